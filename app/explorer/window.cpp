#include "window.h"

#include <epoxy/gl.h>
#include <GLFW/glfw3.h>

#include <cstdlib>

#include "ali/error.h"
#include "imgui.h"
#include "backends/imgui_impl_glfw.h"
#include "backends/imgui_impl_opengl3.h"

namespace ali::explorer {

namespace {
std::string g_glfw_error;
void on_glfw_error(int, const char* text) { g_glfw_error = text ? text : "unknown GLFW error"; }
}  // namespace

std::string display_problem() {
  const char* d = std::getenv("DISPLAY");
  const char* w = std::getenv("WAYLAND_DISPLAY");
  if ((!d || !*d) && (!w || !*w)) return "no display (DISPLAY and WAYLAND_DISPLAY are not set)";
  return g_glfw_error.empty() ? "the display cannot be opened" : g_glfw_error;
}

Window::Window(int width, int height, const std::string& title, const std::string& ini_path, bool vsync)
    : ini_path_(ini_path) {
  glfwSetErrorCallback(on_glfw_error);
  if (!glfwInit()) throw Error(display_problem());
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GLFW_TRUE);
  window_ = glfwCreateWindow(width, height, title.c_str(), nullptr, nullptr);
  if (!window_) {
    std::string why = display_problem();
    glfwTerminate();
    throw Error("cannot open an OpenGL 3.3 core window: " + why);
  }
  glfwMakeContextCurrent(window_);
  glfwSwapInterval(vsync ? 1 : 0);
  glfwSetWindowUserPointer(window_, this);
  glfwSetDropCallback(window_, &Window::on_drop);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = ini_path_.c_str();
  // No keyboard navigation: Space belongs to pause/resume, not to the focused button.
  ImGui::StyleColorsDark();
  ImGuiStyle& style = ImGui::GetStyle();
  style.WindowRounding = 3;
  style.FrameRounding = 2;
  style.WindowPadding = ImVec2(8, 6);
  ImGui_ImplGlfw_InitForOpenGL(window_, true);
  ImGui_ImplOpenGL3_Init("#version 330 core");
}

Window::~Window() {
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(window_);
  glfwTerminate();
}

bool Window::should_close() const { return glfwWindowShouldClose(window_); }

void Window::poll(double wait_s) {
  if (wait_s > 0)
    glfwWaitEventsTimeout(wait_s);
  else
    glfwPollEvents();
}

void Window::begin_frame() {
  ImGui_ImplOpenGL3_NewFrame();
  ImGui_ImplGlfw_NewFrame();
  ImGui::NewFrame();
}

void Window::end_frame() {
  ImGui::Render();
  int w = 0, h = 0;
  glfwGetFramebufferSize(window_, &w, &h);
  glViewport(0, 0, w, h);
  // The panels' background colour (opaque): panels that overlap nothing skip their own (begin_panel).
  const ImVec4 bg = ImGui::GetStyle().Colors[ImGuiCol_WindowBg];
  glClearColor(bg.x, bg.y, bg.z, 1.0f);
  glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
}

void Window::swap() { glfwSwapBuffers(window_); }

PixelBuffer Window::read_pixels() const {
  int w = 0, h = 0;
  glfwGetFramebufferSize(window_, &w, &h);
  PixelBuffer b;
  b.width = w;
  b.height = h;
  b.channels = 3;
  std::vector<uint8_t> raw(size_t(w) * h * 3);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadBuffer(GL_BACK);
  glReadPixels(0, 0, w, h, GL_RGB, GL_UNSIGNED_BYTE, raw.data());
  b.pixels.resize(raw.size());
  for (int y = 0; y < h; ++y)  // OpenGL's rows start at the bottom
    std::copy_n(raw.data() + size_t(h - 1 - y) * w * 3, size_t(w) * 3, b.pixels.data() + size_t(y) * w * 3);
  return b;
}

std::vector<std::string> Window::take_drops() { return std::exchange(drops_, {}); }

void Window::on_drop(GLFWwindow* w, int count, const char** paths) {
  auto* self = static_cast<Window*>(glfwGetWindowUserPointer(w));
  for (int i = 0; i < count; ++i) self->drops_.emplace_back(paths[i]);
}

void Window::size(int& w, int& h) const { glfwGetWindowSize(window_, &w, &h); }

std::string Window::gl_renderer() const {
  const auto* r = glGetString(GL_RENDERER);
  const auto* v = glGetString(GL_VERSION);
  return std::string(r ? reinterpret_cast<const char*>(r) : "?") + " / OpenGL " +
         (v ? reinterpret_cast<const char*>(v) : "?");
}

}  // namespace ali::explorer

namespace ali::explorer {

bool Window::had_input() {
  // Polled rather than chained to ImGui's GLFW callbacks: the cursor moved or a button is held.
  double x = 0, y = 0;
  glfwGetCursorPos(window_, &x, &y);
  bool moved = x != last_cursor_x_ || y != last_cursor_y_;
  last_cursor_x_ = x;
  last_cursor_y_ = y;
  const ImGuiIO& io = ImGui::GetIO();
  bool keys = io.WantTextInput || io.MouseWheel != 0;
  for (bool down : io.KeysDown) keys = keys || down;
  return moved || keys;
}

}  // namespace ali::explorer
