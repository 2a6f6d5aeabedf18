#include <algorithm>
#include <cmath>

#include "imgui.h"
#include "imgui_stdlib.h"
#include "panels.h"

namespace ali::explorer {

namespace {
// Lays out `members` as toggles in as many columns as the widest name allows. Exclusive groups draw
// radio buttons; a click on the one that is on turns it off unless the group requires one.
void toggle_table(AppState& s, const AttributeGroup& g) {
  const auto& names = s.config().attributes;
  float widest = 0;
  for (int i : g.members)
    widest = std::max(widest, ImGui::CalcTextSize(names[size_t(i)].c_str()).x);
  float cell = widest + ImGui::GetFrameHeight() + ImGui::GetStyle().ItemInnerSpacing.x + 10;
  int cols = std::clamp(int(ImGui::GetContentRegionAvail().x / cell), 1, 6);
  if (!ImGui::BeginTable(g.title.c_str(), cols)) return;
  for (int i : g.members) {
    ImGui::TableNextColumn();
    ImGui::PushID(i);
    const std::string& name = names[size_t(i)];
    bool on = s.attributes.on(i);
    if (g.exclusive) {
      if (ImGui::RadioButton(name.c_str(), on)) s.attributes.set(i, g.required || !on);
    } else if (ImGui::Checkbox(name.c_str(), &on)) {
      s.attributes.set(i, on);
    }
    ImGui::PopID();
  }
  ImGui::EndTable();
}
}  // namespace

void AttributesPanel::draw(AppState& s) {
  if (s.attributes.focus) {  // "Edit attributes" on a dropped image
    ImGui::SetNextWindowFocus();
    s.attributes.focus = false;
  }
  if (!begin_panel("Attributes", 0.24f, 0.36f, 0.36f, 0.36f)) {
    ImGui::End();
    return;
  }
  if (!s.has_model()) {
    ImGui::TextDisabled("no model");
  } else if (!s.attributes.active()) {
    ImGui::TextDisabled("this model is not conditional");
  } else if (ImGui::BeginTabBar("attributes")) {
    // --sweep shows its grid first (demos and screenshots); afterwards the user's choice.
    auto first = [&](bool want) {
      return !tab_selected_ && want ? ImGuiTabItemFlags_SetSelected : 0;
    };
    if (ImGui::BeginTabItem("Toggles", nullptr, first(s.options.sweep.empty()))) {
      toggles_tab(s);
      ImGui::EndTabItem();
    }
    if (ImGui::BeginTabItem("Sweep", nullptr, first(!s.options.sweep.empty()))) {
      sweep_tab(s);
      ImGui::EndTabItem();
    }
    ImGui::EndTabBar();
    tab_selected_ = true;
  }
  ImGui::End();
}

void AttributesPanel::toggles_tab(AppState& s) {
  // Left: the Inspect view, which is what the toggles re-render (so the change shows without
  // switching tabs), and what it shows. Right: the toggles, with the panel's full height.
  ImVec2 avail = ImGui::GetContentRegionAvail();
  float img = std::clamp(std::min(avail.x * 0.25f, avail.y * 0.6f), 48.0f, 192.0f);
  ImGui::BeginGroup();
  image_widget(s.explore.inspect, img, img, "preview");
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("G(z, y): the Explore panel's Inspect view");
  ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + img);
  ImGui::TextWrapped("Editing: %s", s.explore.inspect_source.c_str());
  ImGui::TextDisabled("y: %s", s.attributes.summary().c_str());
  ImGui::PopTextWrapPos();
  if (!s.attributes.one_hot) {
    if (ImGui::SmallButton("All off")) s.attributes.clear();
    ImGui::SameLine();
  }
  ImGui::TextDisabled("(?)");
  if (ImGui::IsItemHovered()) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 30.0f);
    ImGui::TextUnformatted(
        "The code z stays fixed while y changes. Every view (Inspect, Interpolate, Encode, shelf) "
        "draws "
        "with these attributes; dropped images are encoded with them too. \"Edit attributes\" "
        "under a "
        "dropped image loads its code here.");
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
  ImGui::EndGroup();

  ImGui::SameLine();
  // Compact rows: CelebA's 40 names should mostly fit without scrolling.
  ImGui::BeginChild("toggles");
  ImGui::PushStyleVar(ImGuiStyleVar_FramePadding, ImVec2(ImGui::GetStyle().FramePadding.x, 1));
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(ImGui::GetStyle().ItemSpacing.x, 2));
  for (const auto& g : s.attributes.groups) {
    ImGui::TextDisabled("%s%s", g.title.c_str(),
                        g.required    ? " (one on)"
                        : g.exclusive ? " (at most one on)"
                                      : "");
    toggle_table(s, g);
  }
  ImGui::PopStyleVar(2);
  ImGui::EndChild();
}

void AttributesPanel::sweep_tab(AppState& s) {
  ImGui::SetNextItemWidth(-ImGui::CalcTextSize("rows").x - ImGui::GetStyle().ItemInnerSpacing.x -
                          24);
  bool enter =
      ImGui::InputTextWithHint("rows", "Black_Hair;Blond_Hair,Bangs", &s.attributes.sweep_rows,
                               ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::SameLine();
  ImGui::TextDisabled("(?)");
  if (ImGui::IsItemHovered()) {
    std::string valid;
    for (const auto& n : s.config().attributes) valid += (valid.empty() ? "" : ", ") + n;
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 34.0f);
    ImGui::TextUnformatted(
        ("One row per attribute set, ';' between rows, ',' between the attributes of a "
         "row (as `ali sweep --rows`). The columns share fixed codes z from the seed.\n\n"
         "Attributes: " +
         valid)
            .c_str());
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
  ImGui::SetNextItemWidth(100);
  if (ImGui::InputInt("columns", &s.attributes.sweep_cols))
    s.attributes.sweep_cols = std::clamp(s.attributes.sweep_cols, 1, 64);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(100);
  int seed = int(s.attributes.sweep_seed);
  if (ImGui::InputInt("seed", &seed)) s.attributes.sweep_seed = uint64_t(std::max(0, seed));
  ImGui::SameLine();
  if (ImGui::Button("Render") || enter) s.attributes.render_sweep();
  ImGui::SameLine();
  bool can_export = s.attributes.sweep_images.defined();
  if (!can_export) ImGui::BeginDisabled();
  if (ImGui::Button("Export PNG")) s.attributes.export_sweep();
  if (!can_export) ImGui::EndDisabled();
  if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
    ImGui::SetTooltip("-> %s/attribute-sweep-<time>.png", s.settings.capture_dir.c_str());
  if (s.attributes.sweep_rendering()) {
    ImGui::SameLine();
    ImGui::TextDisabled("rendering...");
  } else if (s.attributes.sweep_images.defined()) {
    ImGui::SameLine();
    ImGui::TextDisabled("step %lld", (long long)s.attributes.sweep_step);
  }
  if (s.attributes.sweep.empty()) {
    ImGui::TextDisabled("Render draws one row per attribute set over the same codes.");
    return;
  }
  // The grid, with each row's attributes beside it while the rows are tall enough to label.
  ImVec2 avail = ImGui::GetContentRegionAvail();
  const int rows = int(s.attributes.sweep_shown_rows.size());
  float label_w = 0;
  for (const auto& r : s.attributes.sweep_shown_rows)
    label_w = std::max(label_w, ImGui::CalcTextSize(r.c_str()).x);
  label_w = std::min(label_w + 10, avail.x * 0.45f);
  ImVec2 size =
      image_widget(s.attributes.sweep, avail.x - label_w, std::max(40.0f, avail.y), "sweep");
  ImVec2 p0 = ImGui::GetItemRectMin();
  bool hovered = ImGui::IsItemHovered();
  float row_h = rows > 0 ? size.y / float(rows) : 0;
  if (rows > 0 && row_h >= ImGui::GetFontSize() * 0.9f) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    ImVec2 clip_max(p0.x + avail.x, p0.y + size.y);  // a narrow grid leaves the labels more room
    dl->PushClipRect(ImVec2(p0.x + size.x, p0.y), clip_max, true);
    for (int r = 0; r < rows; ++r)
      dl->AddText(
          ImVec2(p0.x + size.x + 8, p0.y + (float(r) + 0.5f) * row_h - ImGui::GetFontSize() * 0.5f),
          ImGui::GetColorU32(ImGuiCol_TextDisabled),
          s.attributes.sweep_shown_rows[size_t(r)].c_str());
    dl->PopClipRect();
  }
  if (hovered && rows > 0) {
    float y = ImGui::GetIO().MousePos.y - p0.y;
    int row = std::clamp(int(y / std::max(1.0f, row_h)), 0, rows - 1);
    ImGui::SetTooltip("row %d: %s", row + 1, s.attributes.sweep_shown_rows[size_t(row)].c_str());
  }
}

}  // namespace ali::explorer
