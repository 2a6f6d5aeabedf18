#version 330 core
// Model images, kept crisp at any zoom: "sharp bilinear" sampling is nearest-neighbour inside each
// texel and blends only across the one screen pixel at texel edges, so non-integer zooms of 28x28
// images show no uneven pixel rows. An optional faint grid marks texel edges when zoomed far in.
uniform sampler2D u_tex;   // linear filtering; the sharpness comes from the coordinates below
uniform float u_alpha;
uniform float u_grid;      // grid line strength, 0 = off
uniform vec2 u_tex_size;   // texels
in vec2 v_uv;
out vec4 frag_colour;

void main() {
  vec2 texel = v_uv * u_tex_size;
  vec2 pixels_per_texel = max(1.0 / fwidth(texel), vec2(1.0));
  vec2 d = fract(texel) - 0.5;
  vec2 region = 0.5 - 0.5 / pixels_per_texel;
  vec2 f = (d - clamp(d, -region, region)) * pixels_per_texel + 0.5;
  vec4 c = texture(u_tex, (floor(texel) + f) / u_tex_size);
  if (u_grid > 0.0) {
    vec2 edge_d = abs(fract(texel) - 0.5);  // 0.5 at texel edges
    vec2 w = fwidth(texel);                 // one screen pixel in texels
    float edge = max(step(0.5 - w.x, edge_d.x), step(0.5 - w.y, edge_d.y));
    c.rgb = mix(c.rgb, vec3(0.5), edge * u_grid);
  }
  frag_colour = vec4(c.rgb, c.a * u_alpha);
}
