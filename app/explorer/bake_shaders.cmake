# Writes the shader files IN (a list) into OUT as C++ raw string literals named after the file
# (image_quad.vert -> ali::explorer::shaders::image_quad_vert).
set(text "// Generated from shaders/ by bake_shaders.cmake; do not edit.\n#pragma once\nnamespace ali::explorer::shaders {\n")
foreach(f ${IN})
  get_filename_component(name ${f} NAME)
  string(REPLACE "." "_" name ${name})
  file(READ ${f} body)
  string(APPEND text "inline constexpr const char* ${name} = R\"ali_glsl(${body})ali_glsl\";\n")
endforeach()
string(APPEND text "}  // namespace ali::explorer::shaders\n")
file(WRITE ${OUT}.tmp "${text}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
