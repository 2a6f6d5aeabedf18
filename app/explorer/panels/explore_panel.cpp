#include <algorithm>
#include <cmath>
#include <random>

#include "imgui.h"
#include "imgui_stdlib.h"
#include "panels.h"

namespace ali::explorer {

namespace {
ImU32 label_colour(int64_t label) {
  static const ImU32 palette[10] = {IM_COL32(31, 119, 180, 255),  IM_COL32(255, 127, 14, 255),
                                    IM_COL32(44, 160, 44, 255),   IM_COL32(214, 39, 40, 255),
                                    IM_COL32(148, 103, 189, 255), IM_COL32(140, 86, 75, 255),
                                    IM_COL32(227, 119, 194, 255), IM_COL32(160, 160, 160, 255),
                                    IM_COL32(188, 189, 34, 255),  IM_COL32(23, 190, 207, 255)};
  if (label < 0) return IM_COL32(200, 200, 200, 255);
  return palette[label % 10];
}

}  // namespace

void ExplorePanel::draw(AppState& s) {
  if (!begin_panel("Explore", 0.60f, 0.30f, 0.40f, 0.70f)) {
    ImGui::End();
    return;
  }
  if (ImGui::BeginTabBar("explore")) {
    // --tab picks the first tab shown (demos and screenshots); afterwards the user's choice.
    auto flags = [&](const char* name) {
      return !tab_selected_ && s.options.tab == name ? ImGuiTabItemFlags_SetSelected : 0;
    };
    if (ImGui::BeginTabItem("Interpolate", nullptr, flags("interpolate"))) {
      interpolate_tab(s);
      ImGui::EndTabItem();
    }
    if (ImGui::BeginTabItem("Inspect", nullptr, flags("inspect"))) {
      inspect_tab(s);
      ImGui::EndTabItem();
    }
    if (ImGui::BeginTabItem("Latent map", nullptr, flags("map"))) {
      map_tab(s);
      ImGui::EndTabItem();
    }
    ImGui::EndTabBar();
    tab_selected_ = true;
  }
  ImGui::End();
}

void ExplorePanel::interpolate_tab(AppState& s) {
  if (!s.has_model()) {
    ImGui::TextDisabled("no model");
    return;
  }
  for (int k = 0; k < 2; ++k) {
    Endpoint& e = s.explore.ends[k];
    ImGui::PushID(k);
    ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.45f);
    std::string current = s.explore.endpoint_name(e);
    if (ImGui::BeginCombo(k == 0 ? "A" : "B", current.c_str())) {
      if (ImGui::Selectable("random code", !e.shelf_id && e.code.empty()))
        e.shelf_id = 0, e.code.clear();
      for (const auto& x : s.shelf.entries()) {
        if (int(x.code.size()) != s.config().nlat) continue;
        ImGui::PushID(int(x.id));
        if (ImGui::Selectable(x.name.c_str(), e.shelf_id == x.id)) s.explore.set_endpoint(k, x.id);
        ImGui::PopID();
      }
      ImGui::EndCombo();
    }
    if (!e.shelf_id && e.code.empty()) {
      ImGui::SameLine();
      ImGui::SetNextItemWidth(110);
      int seed = int(e.seed);
      if (ImGui::InputInt("seed", &seed)) e.seed = uint64_t(std::max(0, seed));
    }
    ImGui::PopID();
  }
  ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.6f);
  ImGui::SliderFloat("t", &s.explore.t, 0.0f, 1.0f, "t = %.3f");
  ImGui::SameLine();
  if (ImGui::RadioButton("linear", !s.explore.slerp)) s.explore.slerp = false;
  ImGui::SameLine();
  if (ImGui::RadioButton("spherical", s.explore.slerp)) s.explore.slerp = true;
  ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.6f);
  ImGui::SliderInt("frames", &s.explore.strip_frames, 2, 16);
  ImVec2 avail = ImGui::GetContentRegionAvail();
  float strip_h =
      std::min(avail.x / float(std::max(2, s.explore.strip_frames)) + 4, avail.y * 0.3f);
  float frame =
      std::max(64.0f, std::min(avail.x, avail.y - strip_h - ImGui::GetFrameHeightWithSpacing() * 3 -
                                            ImGui::GetStyle().ItemSpacing.y * 2));
  ImGui::TextDisabled("G(z(t))");
  image_widget(s.explore.interp, frame, frame, "frame");
  ImGui::TextDisabled("strip A -> B");
  image_widget(s.explore.strip, avail.x, strip_h, "strip");
  if (ImGui::Button("Export strip (PNG)")) s.explore.export_strip(false);
  ImGui::SameLine();
  if (ImGui::Button("Export sweep (GIF)")) s.explore.export_strip(true);
  ImGui::SameLine();
  ImGui::TextDisabled("-> %s/", s.settings.capture_dir.c_str());
}

void ExplorePanel::inspect_tab(AppState& s) {
  if (!s.has_model() || int(s.explore.inspect_code.size()) != s.config().nlat) {
    ImGui::TextDisabled("no model");
    return;
  }
  const int nlat = s.config().nlat;
  ImVec2 avail = ImGui::GetContentRegionAvail();
  float img = std::min(avail.x * 0.45f, avail.y * 0.6f);
  ImGui::BeginGroup();
  image_widget(s.explore.inspect, img, img, "output");
  ImGui::TextDisabled("%s", s.explore.inspect_source.c_str());
  if (s.config().conditional()) {  // set in the Attributes panel
    ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + img);
    ImGui::TextDisabled("y: %s", s.attributes.summary().c_str());
    ImGui::PopTextWrapPos();
  }
  ImGui::EndGroup();
  ImGui::SameLine();
  ImGui::BeginGroup();
  static std::mt19937_64 rng(std::random_device{}());
  float bw = std::max(120.0f, ImGui::GetContentRegionAvail().x);
  if (ImGui::Button("Randomise", ImVec2(bw, 0))) {
    uint64_t seed = rng() % 1000000;
    auto z = seeded_normal(1, nlat, seed)[0].contiguous();
    s.explore.set_inspect(std::vector<float>(z.data_ptr<float>(), z.data_ptr<float>() + nlat),
                          "random #" + std::to_string(seed));
  }
  if (ImGui::Button("Reset", ImVec2(bw, 0))) {
    s.explore.reset_inspect();
  }
  if (ImGui::Button("Copy code", ImVec2(bw, 0))) {
    ImGui::SetClipboardText(format_code(s.explore.inspect_code).c_str());
    s.info("copied a " + std::to_string(nlat) + "-number code to the clipboard");
  }
  if (ImGui::Button("Paste code", ImVec2(bw, 0))) {
    const char* text = ImGui::GetClipboardText();
    try {
      s.explore.set_inspect(parse_code(text ? text : "", nlat), "pasted");
    } catch (const std::exception& e) {
      s.error(describe_exception(e));
    }
  }
  if (ImGui::Button("To shelf", ImVec2(bw, 0)))
    s.shelf.add(s.explore.inspect_source, s.explore.inspect_code, "");
  if (ImGui::Button("Save image", ImVec2(bw, 0))) s.explore.save_capture();
  ImGui::EndGroup();

  ImGui::Separator();
  ImGui::TextDisabled(s.explore.dim_order.empty()
                          ? "dimensions (index order)"
                          : "dimensions, most variable over the test set first");
  ImGui::SameLine();
  ImGui::Checkbox("all", &show_all_dims_);
  // The dimension ticked below from -3 to 3, the rest of the code fixed: what that dimension does.
  int& swept = s.explore.sweep_dim;
  if (swept >= 0) {
    float w = ImGui::GetContentRegionAvail().x;
    image_widget(s.explore.dim_sweep, w, w / Explore::kDimSweepFrames + 4, "dim sweep");
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("z[%d] = -3 ... 3, the other dimensions as above", swept);
  }
  ImGui::BeginChild("dims");
  int shown = show_all_dims_ ? nlat : std::min(nlat, 16);
  for (int k = 0; k < shown; ++k) {
    int d = k < int(s.explore.dim_order.size()) ? s.explore.dim_order[size_t(k)] : k;
    if (d >= nlat) continue;
    ImGui::PushID(d);
    bool on = swept == d;
    if (ImGui::Checkbox("##sweep", &on)) swept = on ? d : -1;
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("sweep z[%d] from -3 to 3", d);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x - 60);
    char label[16];
    snprintf(label, sizeof label, "z[%d]", d);
    ImGui::SliderFloat(label, &s.explore.inspect_code[size_t(d)], -4.0f, 4.0f, "%.2f");
    ImGui::PopID();
  }
  ImGui::EndChild();
}

void ExplorePanel::map_tab(AppState& s) {
  LatentMap& m = s.map;
  m.shown();
  if (ImGui::Button("Encode test set")) s.map.request();
  ImGui::SameLine();
  ImGui::Checkbox("follow training", &s.map.follow);
  help_marker("Re-encode the map every 10 s while training (costs CPU the trainer could use).");
  if (!m.points.defined()) {
    ImGui::TextDisabled(s.data.test_set ? "encoding the test set..."
                                        : "waiting for the test set...");
    return;
  }
  ImGui::SameLine();
  int layout = m.layout() == MapLayout::Tsne ? 0 : 1;
  bool changed = ImGui::RadioButton("t-SNE", &layout, 0);
  ImGui::SameLine();
  changed |= ImGui::RadioButton("PCA", &layout, 1);
  if (changed) m.set_layout(layout == 0 ? MapLayout::Tsne : MapLayout::Pca);
  help_marker("t-SNE keeps each code's nearest neighbours near it: the clusters the codes have. PCA "
              "shows the codes' two main axes, linear but little of the variance where the codes "
              "match the prior.");
  ImGui::SameLine();
  if (m.layout() == MapLayout::Pca)
    ImGui::TextDisabled("%lld codes, %.0f%% + %.0f%% of variance", (long long)m.points.size(0),
                        100 * m.explained[0], 100 * m.explained[1]);
  else if (m.laying_out())
    ImGui::TextDisabled("%lld codes, laying out (PCA meanwhile)...", (long long)m.points.size(0));
  else if (!m.layout_note.empty())
    ImGui::TextDisabled("%lld codes, PCA shown: %s", (long long)m.points.size(0), m.layout_note.c_str());
  else
    ImGui::TextDisabled("%lld codes", (long long)m.points.size(0));
  // Legend: the classes, or the attribute chosen to colour an attribute set.
  const auto* names = s.data.test_set ? &s.data.test_set->class_names : nullptr;
  if (!m.varying.empty()) {
    const int a = m.colour_attribute;
    ImGui::SetNextItemWidth(180);
    if (ImGui::BeginCombo("##colour", a >= 0 ? m.attribute_names[size_t(a)].c_str() : "classes")) {
      for (int v : m.varying)
        if (ImGui::Selectable(m.attribute_names[size_t(v)].c_str(), v == a)) m.colour_by(v);
      ImGui::EndCombo();
    }
    if (a >= 0) {
      ImGui::SameLine();
      ImGui::TextColored(ImColor(label_colour(1)), "%s", m.attribute_names[size_t(a)].c_str());
      ImGui::SameLine();
      ImGui::TextColored(ImColor(label_colour(0)), "not");
    }
  } else if (names && !names->empty() && !m.labels.empty()) {
    for (size_t i = 0; i < names->size() && i < 10; ++i) {
      if (i) ImGui::SameLine();
      ImGui::TextColored(ImColor(label_colour(int64_t(i))), "%s", (*names)[i].c_str());
    }
  }
  if (!m.thumbnails.empty()) {
    ImGui::Checkbox("images", &show_thumbnails_);
    ImGui::SameLine();
  }
  ImGui::TextDisabled("hover: image; click: load its code; two clicks: interpolate between them");

  ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImVec2 size = ImGui::GetContentRegionAvail();
  size.y = std::max(size.y, 100.0f);
  ImGui::InvisibleButton("map", size);
  bool hovered = ImGui::IsItemHovered();
  bool clicked = ImGui::IsItemClicked(ImGuiMouseButton_Left);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(p0, ImVec2(p0.x + size.x, p0.y + size.y), IM_COL32(20, 20, 24, 255));
  auto pts = m.points.accessor<float, 2>();
  int64_t n = m.points.size(0);
  // Bounds from the 1st..99th percentiles, so a few outliers do not squeeze the rest into a corner.
  if (bounds_version_ != m.version || bounds_n_ != n) {
    std::vector<float> xs(static_cast<size_t>(n)), ys(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) xs[size_t(i)] = pts[i][0], ys[size_t(i)] = pts[i][1];
    std::sort(xs.begin(), xs.end());
    std::sort(ys.begin(), ys.end());
    size_t lo = size_t(n) / 100, hi = size_t(n) - 1 - size_t(n) / 100;
    float mx = (xs[hi] - xs[lo]) * 0.08f, my = (ys[hi] - ys[lo]) * 0.08f;
    bounds_[0] = xs[lo] - mx, bounds_[1] = xs[hi] + mx, bounds_[2] = ys[lo] - my,
    bounds_[3] = ys[hi] + my;
    bounds_version_ = m.version;
    bounds_n_ = n;
  }
  float xmin = bounds_[0], xmax = bounds_[1], ymin = bounds_[2], ymax = bounds_[3];
  float pad = 10;
  float sx = (size.x - 2 * pad) / std::max(1e-6f, xmax - xmin);
  float sy = (size.y - 2 * pad) / std::max(1e-6f, ymax - ymin);
  auto screen = [&](int64_t i) {
    return ImVec2(p0.x + pad + (pts[i][0] - xmin) * sx,
                  p0.y + size.y - pad - (pts[i][1] - ymin) * sy);
  };
  ImVec2 mouse = ImGui::GetIO().MousePos;
  int best = -1;
  float best_d = 36.0f;  // 6 px
  // Few points (a face model's sample set): each is drawn as its image, and hovering takes the
  // whole picture.
  const bool thumbs = show_thumbnails_ && m.thumbnails.size() == size_t(n);
  const float half = thumbs ? std::clamp(std::min(size.x, size.y) / 20.0f, 10.0f, 32.0f) : 1.5f;
  if (thumbs) best_d = half * half;
  dl->PushClipRect(p0, ImVec2(p0.x + size.x, p0.y + size.y), true);
  for (int64_t i = 0; i < n; ++i) {
    ImVec2 q = screen(i);
    int64_t label = size_t(i) < m.labels.size() ? m.labels[size_t(i)] : -1;
    ImVec2 a(q.x - half, q.y - half), b(q.x + half, q.y + half);
    if (!thumbs || !draw_image(m.thumbnails[size_t(i)], a, b))
      dl->AddRectFilled(a, b, label_colour(label));
    else if (label >= 0)  // an image keeps its class or attribute colour as a frame
      dl->AddRect(a, b, label_colour(label), 0, 0, 2);
    if (hovered) {
      float dx = q.x - mouse.x, dy = q.y - mouse.y;
      if (dx * dx + dy * dy < best_d) best_d = dx * dx + dy * dy, best = int(i);
    }
  }
  if (thumbs && best >= 0) {  // the hovered image on top of its neighbours, framed
    ImVec2 q = screen(best);
    ImVec2 a(q.x - half, q.y - half), b(q.x + half, q.y + half);
    draw_image(m.thumbnails[size_t(best)], a, b);
    dl->AddRect(a, b, IM_COL32(255, 255, 255, 255), 0, 0, 2);
  }
  for (int k = 0; k < 2; ++k)
    if (m.picked[k] >= 0 && m.picked[k] < n) {
      ImVec2 q = screen(m.picked[k]);
      dl->AddCircle(q, 7, IM_COL32(255, 255, 255, 255), 12, 2);
      dl->AddText(ImVec2(q.x + 8, q.y - 8), IM_COL32(255, 255, 255, 255), k == 0 ? "A" : "B");
    }
  if (m.picked[0] >= 0 && m.picked[1] >= 0 && m.picked[0] < n && m.picked[1] < n)
    dl->AddLine(screen(m.picked[0]), screen(m.picked[1]), IM_COL32(255, 255, 255, 120), 1.5f);
  dl->PopClipRect();
  m.hovered = best;
  if (best >= 0) {
    if (!thumbs) dl->AddCircle(screen(best), 5, IM_COL32(255, 255, 255, 255), 10, 1.5f);
    if (s.data.test_set && best < s.data.test_set->size()) {
      ImGui::BeginTooltip();
      image_widget(m.hover_image(best), 112, 112);
      int64_t label = size_t(best) < m.labels.size() ? m.labels[size_t(best)] : -1;
      if (m.attributes.defined()) {
        ImGui::PushTextWrapPos(ImGui::GetFontSize() * 24);
        ImGui::TextWrapped("test #%d: %s", best, m.point_attributes(best).c_str());
        ImGui::PopTextWrapPos();
      } else if (names && label >= 0 && label < int64_t(names->size()))
        ImGui::Text("test #%d: %s", best, (*names)[size_t(label)].c_str());
      else
        ImGui::Text("test #%d", best);
      ImGui::EndTooltip();
    }
    if (clicked) m.pick(best);
  }
}

}  // namespace ali::explorer
