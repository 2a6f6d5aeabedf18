#include "ali/faces.h"

#include <turbojpeg.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include "ali/celeba.h"
#include "ali/error.h"

namespace fs = std::filesystem;

namespace ali {

namespace {

constexpr int kWidth = 178, kHeight = 218;
constexpr int kSuper = 3;  // 3 x 3 samples per pixel
constexpr double kPi = 3.14159265358979323846;

// Own distributions over mt19937_64: std::uniform_*_distribution differ between standard libraries.
struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  double u01() { return double(g() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double a, double b) { return a + (b - a) * u01(); }
  bool chance(double p) { return u01() < p; }
  int pick(int n) { return std::min(n - 1, int(u01() * n)); }
};

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct Rgb {
  float r, g, b;
};
Rgb mix(Rgb a, Rgb b, float t) {
  return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t};
}
Rgb scaled(Rgb a, float k) { return {a.r * k, a.g * k, a.b * k}; }
Rgb jitter(Rgb a, Rng& r, float amount) {
  return {a.r + float(r.uniform(-amount, amount)), a.g + float(r.uniform(-amount, amount)),
          a.b + float(r.uniform(-amount, amount))};
}

// A region in face coordinates (origin at the head's centre, pixels of an unscaled face, v down)
// with its bounding box.
struct Box {
  double u0, v0, u1, v1;
};
struct Shape {
  Box box;
  std::function<bool(double, double)> in;
};

Shape ellipse(double cu, double cv, double ru, double rv) {
  return {{cu - ru, cv - rv, cu + ru, cv + rv}, [=](double u, double v) {
            double a = (u - cu) / ru, b = (v - cv) / rv;
            return a * a + b * b <= 1.0;
          }};
}
Shape rect(double u0, double v0, double u1, double v1) {
  return {{u0, v0, u1, v1}, [=](double u, double v) { return u >= u0 && u <= u1 && v >= v0 && v <= v1; }};
}
Shape polygon(std::vector<std::pair<double, double>> p) {
  Box b{1e9, 1e9, -1e9, -1e9};
  for (auto [u, v] : p) b = {std::min(b.u0, u), std::min(b.v0, v), std::max(b.u1, u), std::max(b.v1, v)};
  return {b, [p = std::move(p)](double u, double v) {
            bool inside = false;
            for (size_t i = 0, j = p.size() - 1; i < p.size(); j = i++) {
              auto [ui, vi] = p[i];
              auto [uj, vj] = p[j];
              if ((vi > v) != (vj > v) && u < (uj - ui) * (v - vi) / (vj - vi) + ui) inside = !inside;
            }
            return inside;
          }};
}
// A thick polyline with round joins.
Shape stroke(std::vector<std::pair<double, double>> p, double width) {
  double h = width / 2;
  Box b{1e9, 1e9, -1e9, -1e9};
  for (auto [u, v] : p)
    b = {std::min(b.u0, u - h), std::min(b.v0, v - h), std::max(b.u1, u + h), std::max(b.v1, v + h)};
  return {b, [p = std::move(p), h2 = h * h](double u, double v) {
            for (size_t i = 0; i + 1 < p.size(); ++i) {
              auto [au, av] = p[i];
              auto [bu, bv] = p[i + 1];
              double du = bu - au, dv = bv - av, len2 = du * du + dv * dv;
              double t = len2 > 0 ? std::clamp(((u - au) * du + (v - av) * dv) / len2, 0.0, 1.0) : 0.0;
              double eu = au + t * du - u, ev = av + t * dv - v;
              if (eu * eu + ev * ev <= h2) return true;
            }
            return false;
          }};
}
// Points of u -> (u, f(u)) for a curve drawn as a stroke.
std::vector<std::pair<double, double>> curve(double u0, double u1, int n,
                                             const std::function<double(double)>& f) {
  std::vector<std::pair<double, double>> p;
  for (int i = 0; i <= n; ++i) {
    double u = u0 + (u1 - u0) * i / n;
    p.emplace_back(u, f(u));
  }
  return p;
}
Shape both(Shape a, Shape b) {
  Box box{std::max(a.box.u0, b.box.u0), std::max(a.box.v0, b.box.v0), std::min(a.box.u1, b.box.u1),
          std::min(a.box.v1, b.box.v1)};
  return {box, [a = std::move(a.in), b = std::move(b.in)](double u, double v) { return a(u, v) && b(u, v); }};
}
Shape either(Shape a, Shape b) {
  Box box{std::min(a.box.u0, b.box.u0), std::min(a.box.v0, b.box.v0), std::max(a.box.u1, b.box.u1),
          std::max(a.box.v1, b.box.v1)};
  return {box, [a = std::move(a.in), b = std::move(b.in)](double u, double v) { return a(u, v) || b(u, v); }};
}
Shape minus(Shape a, Shape b) {
  return {a.box, [a = std::move(a.in), b = std::move(b.in)](double u, double v) { return a(u, v) && !b(u, v); }};
}

// Supersampled RGB canvas; shapes are given in face coordinates and placed by the head's pose.
class Canvas {
 public:
  Canvas(double cx, double cy, double angle, double scale)
      : cx_(cx), cy_(cy), c_(std::cos(angle)), s_(std::sin(angle)), k_(scale),
        px_(size_t(kWidth * kSuper) * kHeight * kSuper * 3, 0.f) {}

  // Vertical gradient over the whole image (the background).
  void background(Rgb top, Rgb bottom) {
    for (int y = 0; y < kHeight * kSuper; ++y) {
      Rgb c = mix(top, bottom, float(y) / float(kHeight * kSuper));
      for (int x = 0; x < kWidth * kSuper; ++x) put(x, y, c, 1.f);
    }
  }

  // Paints `colour` where the shape is; `shade` darkens towards larger v (light from above).
  void fill(const Shape& s, Rgb colour, float alpha = 1.f, float shade = 0.f) {
    double x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9;
    for (double u : {s.box.u0, s.box.u1})
      for (double v : {s.box.v0, s.box.v1}) {
        double x = cx_ + k_ * (c_ * u - s_ * v), y = cy_ + k_ * (s_ * u + c_ * v);
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
    int sx0 = std::max(0, int(std::floor(x0 * kSuper))), sx1 = std::min(kWidth * kSuper - 1, int(std::ceil(x1 * kSuper)));
    int sy0 = std::max(0, int(std::floor(y0 * kSuper))), sy1 = std::min(kHeight * kSuper - 1, int(std::ceil(y1 * kSuper)));
    for (int sy = sy0; sy <= sy1; ++sy) {
      double dy = (sy + 0.5) / kSuper - cy_;
      for (int sx = sx0; sx <= sx1; ++sx) {
        double dx = (sx + 0.5) / kSuper - cx_;
        double u = (c_ * dx + s_ * dy) / k_, v = (-s_ * dx + c_ * dy) / k_;
        if (!s.in(u, v)) continue;
        Rgb c = shade != 0.f ? scaled(colour, float(std::clamp(1.0 - shade * v / 100.0, 0.5, 1.3))) : colour;
        put(sx, sy, c, alpha);
      }
    }
  }

  torch::Tensor pixels() const {
    auto out = torch::empty({kHeight, kWidth, 3}, torch::kUInt8);
    uint8_t* o = out.data_ptr<uint8_t>();
    const int sw = kWidth * kSuper;
    for (int y = 0; y < kHeight; ++y)
      for (int x = 0; x < kWidth; ++x)
        for (int ch = 0; ch < 3; ++ch) {
          float sum = 0;
          for (int j = 0; j < kSuper; ++j)
            for (int i = 0; i < kSuper; ++i)
              sum += px_[(size_t(y * kSuper + j) * sw + size_t(x * kSuper + i)) * 3 + size_t(ch)];
          *o++ = uint8_t(std::clamp(std::lround(sum / (kSuper * kSuper)), 0l, 255l));
        }
    return out;
  }

 private:
  void put(int x, int y, Rgb c, float a) {
    float* p = &px_[(size_t(y) * kWidth * kSuper + size_t(x)) * 3];
    p[0] += (c.r - p[0]) * a;
    p[1] += (c.g - p[1]) * a;
    p[2] += (c.b - p[2]) * a;
  }
  double cx_, cy_, c_, s_, k_;
  std::vector<float> px_;
};

Rgb hair_rgb(HairColour h, Rng& r) {
  switch (h) {
    case HairColour::Black: return jitter({28, 24, 24}, r, 8);
    case HairColour::Blond: return jitter({228, 192, 112}, r, 12);
    case HairColour::Brown: return jitter({110, 66, 34}, r, 10);
    case HairColour::Gray: return jitter({178, 178, 182}, r, 10);
    case HairColour::Other: {
      const Rgb other[] = {{160, 58, 28}, {196, 92, 40}, {120, 40, 60}};  // auburn, ginger, dyed
      return jitter(other[r.pick(3)], r, 10);
    }
  }
  return {0, 0, 0};
}

}  // namespace

FaceAttributes draw_face_attributes(uint64_t seed) {
  Rng r(splitmix64(seed ^ 0xA77B5EEDull));
  FaceAttributes a;
  a.male = r.chance(0.45);
  a.smiling = r.chance(0.45);
  a.mouth_slightly_open = r.chance(0.42);
  a.eyeglasses = r.chance(0.25);
  a.wearing_hat = r.chance(0.22);
  a.pale_skin = r.chance(0.22);
  a.bald = a.male && r.chance(0.45);
  a.bangs = !a.bald && r.chance(0.36);
  a.wavy_hair = !a.bald && r.chance(0.36);
  a.mustache = a.male && r.chance(0.5);
  a.goatee = a.male && r.chance(0.5);
  double h = r.u01();  // mutually exclusive colours; the rest are red or dyed
  a.hair = h < 0.25   ? HairColour::Black
           : h < 0.47 ? HairColour::Blond
           : h < 0.69 ? HairColour::Brown
           : h < 0.89 ? HairColour::Gray
                      : HairColour::Other;
  return a;
}

std::vector<int> celeba_row(const FaceAttributes& a) {
  const auto& names = celeba_attribute_names();
  std::vector<int> row(names.size(), -1);
  auto set = [&](const char* name, bool on) {
    auto it = std::find(names.begin(), names.end(), name);
    row[size_t(it - names.begin())] = on ? 1 : -1;
  };
  set("Male", a.male);
  set("Smiling", a.smiling);
  set("Mouth_Slightly_Open", a.mouth_slightly_open);
  set("Eyeglasses", a.eyeglasses);
  set("Wearing_Hat", a.wearing_hat);
  set("Bald", a.bald);
  set("Bangs", a.bangs);
  set("Wavy_Hair", a.wavy_hair);
  set("Pale_Skin", a.pale_skin);
  set("Mustache", a.mustache);
  set("Goatee", a.goatee);
  set("No_Beard", !a.mustache && !a.goatee);
  set("Black_Hair", a.hair == HairColour::Black);
  set("Blond_Hair", a.hair == HairColour::Blond);
  set("Brown_Hair", a.hair == HairColour::Brown);
  set("Gray_Hair", a.hair == HairColour::Gray);
  return row;
}

torch::Tensor render_face(const FaceAttributes& a, uint64_t seed) {
  Rng r(splitmix64(seed ^ 0xFACEull));
  // Pose: the ALI crop keeps the central 178 x 178 (rows 20..198), so the head stays well inside it.
  double angle = r.uniform(-9, 9) * kPi / 180;
  double scale = r.uniform(0.9, 1.07);
  Canvas cv(89 + r.uniform(-7, 7), 116 + r.uniform(-5, 5), angle, scale);

  // Background: a muted colour with a vertical gradient.
  float hue = float(r.uniform(0, 2 * kPi)), val = float(r.uniform(90, 235)), sat = float(r.uniform(0.1, 0.5));
  Rgb bg{val * (1 - sat * 0.5f * (1 + std::cos(hue))), val * (1 - sat * 0.5f * (1 + std::cos(hue - 2.09f))),
         val * (1 - sat * 0.5f * (1 + std::cos(hue + 2.09f)))};
  cv.background(scaled(bg, 1.08f), scaled(bg, 0.85f));

  const Rgb skin_tones[] = {{232, 190, 160}, {212, 160, 120}, {180, 128, 88}, {140, 94, 62}, {102, 68, 46}};
  Rgb skin = a.pale_skin ? jitter({250, 228, 218}, r, 5) : jitter(skin_tones[r.pick(5)], r, 8);
  Rgb skin_dark = scaled(skin, 0.82f);
  Rgb hair = hair_rgb(a.hair, r);
  Rgb hair_dark = scaled(hair, a.hair == HairColour::Blond || a.hair == HairColour::Gray ? 0.62f : 0.7f);
  // Brows and beards: dark enough to read even for light hair.
  Rgb facial_hair = a.hair == HairColour::Blond   ? Rgb{150, 112, 60}
                    : a.hair == HairColour::Gray  ? Rgb{120, 120, 124}
                                                  : scaled(hair, 0.8f);
  Rgb clothes = jitter({float(r.uniform(20, 230)), float(r.uniform(20, 230)), float(r.uniform(20, 230))}, r, 0);

  const double head_rx = a.male ? 45 : 43, head_ry = 56;
  const double wave_phase = r.uniform(0, 2 * kPi);
  const double wave_amp = a.wavy_hair ? 5.0 : 0.0;
  const bool long_hair = !a.bald && (a.male ? r.chance(0.1) : r.chance(0.85));

  // Shoulders and neck.
  cv.fill(ellipse(0, 118, 92, 40), clothes, 1.f, 0.3f);
  cv.fill(rect(-17, 30, 17, 92), skin_dark);
  cv.fill(ellipse(0, 86, 19, 8), skin_dark);

  // Hair behind the head: shoulder length for long hair, a close crop otherwise.
  if (!a.bald) {
    double bottom = long_hair ? r.uniform(62, 84) : 8;
    double half = head_rx + (long_hair ? r.uniform(12, 18) : 6);
    auto back = [=](double u, double v) {
      double w = half + wave_amp * std::sin(v / 6.5 + wave_phase);
      if (v < -8) {  // round crown
        double t = (v + 8) / (head_ry + 12);
        return std::abs(u) <= w * std::sqrt(std::max(0.0, 1 - t * t));
      }
      return std::abs(u) <= w && v <= bottom + wave_amp * std::sin(u / 5.0 + wave_phase);
    };
    Shape s{{-half - 6, -head_ry - 22, half + 6, bottom + 6}, back};
    cv.fill(s, hair, 1.f, 0.25f);
    if (a.wavy_hair && long_hair)  // curly strands down the sides
      for (double side : {-1.0, 1.0})
        for (double off : {-7.0, 1.0}) {
          double u0 = side * (head_rx + 5 + off);
          cv.fill(stroke([&] {
                    std::vector<std::pair<double, double>> p;
                    for (double v = -4; v <= bottom - 2; v += 2.5)
                      p.emplace_back(u0 + 3.2 * std::sin(v / 4.0 + wave_phase + off), v);
                    return p;
                  }(),
                         2.2),
                  hair_dark);
        }
  }

  // Ears, head; a square jaw for men.
  for (double side : {-1.0, 1.0}) cv.fill(ellipse(side * (head_rx - 1), 2, 7, 12), skin_dark);
  Shape head = ellipse(0, 0, head_rx, head_ry);
  if (a.male)
    head = either(head, polygon({{-head_rx, -6}, {head_rx, -6}, {head_rx - 6, 38}, {16, 55}, {-16, 55}, {-head_rx + 6, 38}}));
  cv.fill(head, skin, 1.f, 0.18f);

  // Hair on top: a hairline with a side parting, down to the temples; bangs reach the eyebrows.
  if (!a.bald) {
    double part = r.uniform(-14, 14);
    double fringe = r.uniform(-21, -19);
    auto cap = [=](double u, double v) {
      double rx = head_rx + 4 + wave_amp * 0.6 * std::sin(v / 5.0 + wave_phase);
      double a2 = u / rx, b2 = (v + 8) / (head_ry + 6);
      if (v > 6 || a2 * a2 + b2 * b2 > 1) return false;
      if (a.bangs) return v <= fringe + 2.0 * std::abs(std::sin((u - part) / 4.0));
      double hairline = -36 + 0.022 * u * u + 5 * std::exp(-(u - part) * (u - part) / 30.0);
      return v <= hairline;
    };
    cv.fill(Shape{{-head_rx - 10, -head_ry - 16, head_rx + 10, 8}, cap}, hair, 1.f, 0.25f);
    if (a.wavy_hair)  // waves across the top of the head
      for (double v0 : {-50.0, -42.0})
        cv.fill(both(stroke(curve(-34, 34, 24, [&](double u) { return v0 + 2.6 * std::sin(u / 4.0 + wave_phase); }), 2.2),
                     Shape{{-60, -80, 60, 10}, cap}),
                hair_dark);
  } else {
    for (double side : {-1.0, 1.0})  // what is left at the sides, and a shine on the scalp
      cv.fill(both(ellipse(side * (head_rx - 1), -10, 7, 15), ellipse(0, 0, head_rx + 3, head_ry)), hair, 1.f, 0.2f);
    cv.fill(ellipse(-10, -40, 14, 8), Rgb{255, 255, 255}, 0.25f);
  }

  // Eyes and eyebrows.
  const double eye_u = 17, eye_v = -4;
  Rgb iris = jitter(r.chance(0.3) ? Rgb{70, 110, 150} : Rgb{80, 52, 30}, r, 10);
  for (double side : {-1.0, 1.0}) {
    double u = side * eye_u;
    cv.fill(ellipse(u, eye_v, 8.5, 4.6), Rgb{245, 245, 240});
    cv.fill(ellipse(u, eye_v, 4.0, 4.0), iris);
    cv.fill(ellipse(u, eye_v, 1.9, 1.9), Rgb{10, 10, 10});
    cv.fill(stroke(curve(u - 8.5, u + 8.5, 8, [&](double x) { double t = (x - u) / 8.5; return eye_v - 4.4 * (1 - t * t); }), 1.6),
            Rgb{40, 28, 24});
    double brow_w = a.male ? 4.6 : 3.4;
    cv.fill(stroke(curve(u - 9, u + 9, 8, [&](double x) { double t = (x - u) / 9; return eye_v - 12 - 2.5 * (1 - t * t) + side * t * 1.0; }), brow_w),
            facial_hair);
  }

  // Nose.
  double nose_dir = r.chance(0.5) ? 1 : -1;
  cv.fill(stroke({{nose_dir * 1, 0}, {nose_dir * -3, 15}, {nose_dir * 1, 18}}, 2.4), skin_dark);
  cv.fill(ellipse(-5, 18, 2.4, 1.6), scaled(skin, 0.6f));
  cv.fill(ellipse(5, 18, 2.4, 1.6), scaled(skin, 0.6f));

  // Mouth: a smile turns the corners up; an open mouth shows a dark opening and teeth.
  Rgb lips = a.male ? mix(skin, Rgb{150, 60, 60}, 0.55f) : mix(skin, Rgb{175, 40, 60}, 0.75f);
  const Rgb inside{60, 14, 20}, teeth{240, 238, 228};
  const double mv = 33;
  if (a.mouth_slightly_open) {
    double w = a.smiling ? 18 : 11;
    auto top = [=](double u) { double t = u / w; return a.smiling ? mv - 3 + 1.5 * (1 - t * t) - 3 * t * t : mv - 4 * std::sqrt(std::max(0.0, 1 - t * t)); };
    auto bot = [=](double u) { double t = u / w; return a.smiling ? mv - 3 + 12 * (1 - t * t) - 3 * t * t : mv + 6 * std::sqrt(std::max(0.0, 1 - t * t)); };
    Shape opening{{-w, mv - 10, w, mv + 12}, [=](double u, double v) { return std::abs(u) <= w && v >= top(u) && v <= bot(u); }};
    cv.fill(stroke(curve(-w, w, 20, top), 3.0), lips);
    cv.fill(stroke(curve(-w, w, 20, bot), 3.4), lips);
    cv.fill(opening, inside);
    cv.fill(both(opening, Shape{{-w, mv - 12, w, mv + 12}, [=](double u, double v) { return v <= top(u) + 3.2; }}), teeth);
  } else if (a.smiling) {
    cv.fill(stroke(curve(-18, 18, 20, [](double u) { double t = u / 18; return 28 + 7 * (1 - t * t); }), 3.8), lips);
    cv.fill(stroke(curve(-18, 18, 20, [](double u) { double t = u / 18; return 28 + 7 * (1 - t * t); }), 1.4), inside);
  } else {
    cv.fill(stroke({{-13, mv}, {-5, mv - 1}, {5, mv - 1}, {13, mv}}, 4.2), lips);
    cv.fill(stroke({{-13, mv}, {13, mv}}, 1.2), scaled(lips, 0.6f));
  }

  // Facial hair (men).
  if (a.mustache)
    cv.fill(polygon({{-19, 30}, {-15, 23}, {-6, 20.5}, {0, 22}, {6, 20.5}, {15, 23}, {19, 30}, {12, 26}, {0, 25.5}, {-12, 26}}),
            facial_hair);
  if (a.goatee)
    cv.fill(both(ellipse(0, 50, 13, 11), minus(head, rect(-40, 0, 40, mv + 6))), facial_hair, 1.f, -0.1f);

  // Eyeglasses: thick dark frames, sometimes tinted lenses.
  if (a.eyeglasses) {
    const Rgb frames[] = {{15, 15, 18}, {45, 28, 18}, {20, 24, 60}};
    Rgb frame = frames[r.pick(3)];
    bool sun = r.chance(0.3);
    for (double side : {-1.0, 1.0}) {
      double u = side * eye_u;
      Shape lens = ellipse(u, eye_v, 12.5, 9.0);
      cv.fill(lens, sun ? Rgb{20, 20, 24} : Rgb{200, 220, 235}, sun ? 0.88f : 0.15f);
      cv.fill(minus(ellipse(u, eye_v, 15.5, 12.0), lens), frame);
      cv.fill(stroke({{side * 30, eye_v - 2}, {side * (head_rx + 2), eye_v - 1}}, 3.0), frame);
    }
    cv.fill(stroke({{-5, eye_v - 3}, {0, eye_v - 5}, {5, eye_v - 3}}, 3.0), frame);
  }

  // Hat: a crown and a brim over the top of the head.
  if (a.wearing_hat) {
    const Rgb hats[] = {{190, 30, 35}, {30, 60, 170}, {30, 130, 60}, {110, 40, 140}, {230, 130, 20}, {20, 20, 40}};
    Rgb hat = jitter(hats[r.pick(6)], r, 12);
    double brim_v = r.uniform(-38, -32);
    cv.fill(both(ellipse(0, brim_v - 4, head_rx + 6, head_ry * 0.75), rect(-80, -120, 80, brim_v)), hat, 1.f, 0.4f);
    cv.fill(ellipse(0, brim_v, head_rx + 18, 7.5), scaled(hat, 0.8f));
    cv.fill(both(ellipse(0, brim_v - 4, head_rx + 6, head_ry * 0.75), rect(-80, brim_v - 12, 80, brim_v - 7)),
            scaled(hat, 0.55f));
  }
  return cv.pixels();
}

FaceDatasetSummary make_face_dataset(const fs::path& out, const FaceDatasetOptions& o) {
  if (o.count < 1 || o.count > 999999) throw Error("make-faces: count must be 1..999999");
  if (o.quality < 1 || o.quality > 100) throw Error("make-faces: JPEG quality must be 1..100");
  // A new dataset only: writing over a folder that holds one (CelebA itself, or an earlier set of
  // another count) would replace its images and leave its lists describing a mix.
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec)) throw Error("make-faces: " + out.string() + " is a file, not a folder");
    if (!fs::is_empty(out, ec))
      throw Error("make-faces: " + out.string() +
                  " is not empty (make-faces writes a new dataset and would replace its files): give a new or "
                  "empty folder");
  }
  const fs::path img_dir = out / "img_align_celeba";
  fs::create_directories(img_dir, ec);
  if (ec) throw Error("cannot create " + img_dir.string() + ": " + ec.message());

  const int n = o.count;
  auto name_of = [](int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%06d.jpg", i + 1);
    return std::string(buf);
  };
  auto image_seed = [&](int i) { return splitmix64(o.seed * 0x9E3779B97F4A7C15ull + uint64_t(i)); };
  std::vector<FaceAttributes> attrs(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) attrs[size_t(i)] = draw_face_attributes(image_seed(i));

  // Render and compress on several threads; each image depends on its own seed only.
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex mu;
  auto work = [&] {
    tjhandle tj = tjInitCompress();
    try {
      if (!tj) throw Error("libturbojpeg: cannot start a compressor");
      for (int i = next.fetch_add(1); i < n && !failed; i = next.fetch_add(1)) {
        auto px = render_face(attrs[size_t(i)], image_seed(i));
        unsigned char* jpeg = nullptr;
        unsigned long size = 0;
        if (tjCompress2(tj, px.data_ptr<uint8_t>(), kWidth, kWidth * 3, kHeight, TJPF_RGB, &jpeg, &size,
                        TJSAMP_420, o.quality, TJFLAG_ACCURATEDCT) != 0)
          throw Error(std::string("libturbojpeg: ") + tjGetErrorStr2(tj));
        fs::path p = img_dir / name_of(i);
        std::ofstream f(p, std::ios::binary);
        f.write(reinterpret_cast<const char*>(jpeg), std::streamsize(size));
        tjFree(jpeg);
        if (!f) throw Error("cannot write " + p.string());
      }
    } catch (...) {
      std::lock_guard lock(mu);
      if (!failed.exchange(true)) error = std::current_exception();
    }
    if (tj) tjDestroy(tj);
  };
  int threads = o.threads > 0 ? o.threads : std::max(1, int(std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);

  FaceDatasetSummary sum;
  sum.count = n;
  sum.train = int(std::lround(n * o.train_fraction));
  sum.valid = std::min(n - sum.train, int(std::lround(n * o.valid_fraction)));
  sum.test = n - sum.train - sum.valid;
  const auto& names = celeba_attribute_names();
  sum.rates.assign(names.size(), 0.0);

  // CelebA's own formatting: names separated by spaces, values right-aligned in runs of spaces.
  std::string attr_text = std::to_string(n) + "\n";
  for (const auto& name : names) attr_text += name + " ";
  attr_text += "\n";
  std::string part_text;
  for (int i = 0; i < n; ++i) {
    auto row = celeba_row(attrs[size_t(i)]);
    attr_text += name_of(i);
    for (size_t k = 0; k < row.size(); ++k) {
      attr_text += row[k] > 0 ? "  1" : " -1";
      if (row[k] > 0) sum.rates[k] += 1.0 / n;
    }
    attr_text += "\n";
    part_text += name_of(i) + (i < sum.train ? " 0\n" : i < sum.train + sum.valid ? " 1\n" : " 2\n");
  }
  for (auto [file, text] : {std::pair{"list_attr_celeba.txt", &attr_text}, std::pair{"list_eval_partition.txt", &part_text}}) {
    std::ofstream f(out / file, std::ios::binary);
    f << *text;
    if (!f) throw Error("cannot write " + (out / file).string());
  }
  return sum;
}

}  // namespace ali
