#include <algorithm>
#include <cmath>

#include <imgui_internal.h>

#include "panels.h"

namespace ali::explorer {

namespace {
// Whether the named window, as laid out last frame, overlaps any other visible top-level window
// (popups and tooltips draw over everything with their own background, so they do not count).
bool overlaps_another_window(const char* title) {
  ImGuiWindow* self = ImGui::FindWindowByName(title);
  if (!self) return true;  // not laid out yet: draw its background
  const ImRect r = self->Rect();
  for (ImGuiWindow* w : GImGui->Windows) {
    if (w == self || w->IsFallbackWindow || w->Hidden || !(w->Active || w->WasActive)) continue;
    if (w->Flags & (ImGuiWindowFlags_ChildWindow | ImGuiWindowFlags_Popup | ImGuiWindowFlags_Tooltip))
      continue;
    ImRect o = w->Rect();
    if (r.Min.x < o.Max.x && o.Min.x < r.Max.x && r.Min.y < o.Max.y && o.Min.y < r.Max.y) return true;
  }
  return false;
}
}  // namespace

bool begin_panel(const char* title, float x, float y, float w, float h, bool* open) {
  ImVec2 d = ImGui::GetIO().DisplaySize;
  const float top = ImGui::GetFrameHeight();     // menu bar
  const float bottom = ImGui::GetFrameHeight() + 8;  // status bar
  float avail = d.y - top - bottom;
  ImGui::SetNextWindowPos(ImVec2(x * d.x, top + y * avail), ImGuiCond_FirstUseEver);
  ImGui::SetNextWindowSize(ImVec2(w * d.x, h * avail), ImGuiCond_FirstUseEver);
  // Under llvmpipe a frame's cost is the pixels it fills: the panels' backgrounds were 1.0 of the
  // 1.3 screens ImGui filled each frame (at 1600x960, 10 of 25 ms). The window is cleared to the
  // panel background colour (Window::end_frame), so a panel that overlaps no other window needs no
  // background of its own; one that overlaps keeps it, and so hides what lies under it.
  const bool transparent = !overlaps_another_window(title);
  if (transparent) ImGui::PushStyleColor(ImGuiCol_WindowBg, IM_COL32(0, 0, 0, 0));
  const bool shown = ImGui::Begin(title, open, ImGuiWindowFlags_NoCollapse);
  if (transparent) ImGui::PopStyleColor();
  return shown;
}

void help_marker(const char* text) {
  ImGui::SameLine();
  ImGui::TextDisabled("(?)");
  if (ImGui::IsItemHovered()) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 30.0f);
    ImGui::TextUnformatted(text);
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
}

void plot_series(const char* id, const std::vector<const std::vector<float>*>& series,
                 const std::vector<ImU32>& colours, const std::vector<const char*>& names, float height,
                 float y_min, float y_max, bool auto_range) {
  ImGui::PushID(id);
  ImVec2 p0 = ImGui::GetCursorScreenPos();
  float width = std::max(50.0f, ImGui::GetContentRegionAvail().x);
  ImGui::InvisibleButton("plot", ImVec2(width, height));
  bool hovered = ImGui::IsItemHovered();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  ImVec2 p1(p0.x + width, p0.y + height);
  dl->AddRectFilled(p0, p1, IM_COL32(25, 25, 30, 255));
  dl->AddRect(p0, p1, IM_COL32(70, 70, 80, 255));
  size_t n = 0;
  for (auto* s : series) n = std::max(n, s->size());
  if (auto_range && n > 0) {
    y_min = 1e30f;
    y_max = -1e30f;
    for (auto* s : series)
      for (float v : *s)
        if (std::isfinite(v)) {
          y_min = std::min(y_min, v);
          y_max = std::max(y_max, v);
        }
    if (y_min > y_max) y_min = 0, y_max = 1;
    float pad = std::max(1e-3f, (y_max - y_min) * 0.08f);
    y_min -= pad;
    y_max += pad;
  }
  auto Y = [&](float v) { return p1.y - (v - y_min) / (y_max - y_min) * height; };
  // Horizontal guides with labels.
  for (int i = 0; i <= 2; ++i) {
    float v = y_min + (y_max - y_min) * (0.1f + 0.4f * i);
    dl->AddLine(ImVec2(p0.x, Y(v)), ImVec2(p1.x, Y(v)), IM_COL32(55, 55, 65, 255));
    char buf[32];
    snprintf(buf, sizeof buf, "%.2f", v);
    dl->AddText(ImVec2(p0.x + 3, Y(v) - ImGui::GetFontSize()), IM_COL32(130, 130, 140, 255), buf);
  }
  if (n >= 2) {
    dl->PushClipRect(p0, p1, true);
    for (size_t k = 0; k < series.size(); ++k) {
      const auto& s = *series[k];
      if (s.size() < 2) continue;
      // One point per pixel column: the mean of the entries that fall in it.
      int cols = int(width);
      std::vector<ImVec2> pts;
      for (int c = 0; c < cols; ++c) {
        size_t a = size_t(double(c) / cols * s.size()), b = size_t(double(c + 1) / cols * s.size());
        if (b <= a) {
          if (a >= s.size()) break;
          b = a + 1;
        }
        double sum = 0;
        int cnt = 0;
        for (size_t i = a; i < b && i < s.size(); ++i)
          if (std::isfinite(s[i])) sum += s[i], ++cnt;
        if (!cnt) continue;
        float x = p0.x + (float(a + b) * 0.5f / float(s.size())) * width;
        pts.push_back(ImVec2(x, Y(float(sum / cnt))));
      }
      if (pts.size() >= 2) dl->AddPolyline(pts.data(), int(pts.size()), colours[k], 0, 1.5f);
    }
    dl->PopClipRect();
  }
  // Legend with the latest values.
  // Right-aligned, from the last series leftwards; a line that is full continues below (K-way
  // objectives have up to 8 curves).
  float lx = p1.x - 6, ly = p0.y;
  for (size_t k = series.size(); k-- > 0;) {
    char buf[64];
    const auto& s = *series[k];
    snprintf(buf, sizeof buf, "%s %.3f", names[k], s.empty() ? 0.0 : double(s.back()));
    ImVec2 ts = ImGui::CalcTextSize(buf);
    if (lx - ts.x < p0.x + 40 && lx < p1.x - 6) {
      lx = p1.x - 6;
      ly += ts.y + 2;
    }
    lx -= ts.x;
    dl->AddRectFilled(ImVec2(lx - 3, ly + 1), ImVec2(lx + ts.x + 3, ly + ts.y + 3), IM_COL32(25, 25, 30, 230));
    dl->AddText(ImVec2(lx, ly + 2), colours[k], buf);
    lx -= 12;
  }
  if (hovered && n > 0) {
    float fx = (ImGui::GetIO().MousePos.x - p0.x) / width;
    size_t i = std::min(n - 1, size_t(std::max(0.0f, fx) * n));
    ImGui::BeginTooltip();
    for (size_t k = 0; k < series.size(); ++k)
      if (i < series[k]->size()) ImGui::TextColored(ImColor(colours[k]), "%s %.4f", names[k], (*series[k])[i]);
    ImGui::EndTooltip();
  }
  ImGui::PopID();
}

}  // namespace ali::explorer
