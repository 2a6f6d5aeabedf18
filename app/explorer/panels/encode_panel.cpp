#include <cmath>

#include "imgui.h"
#include "imgui_stdlib.h"
#include "panels.h"

namespace ali::explorer {

namespace {
// The conformed input; dragging a rectangle on it sets the hole the model fills (live, also while
// training), a right click clears it.
void inpaint_input(AppState& s, const DroppedImage& d, float cell) {
  ImVec2 size = image_widget(d.input, cell, cell, "in");
  ImVec2 origin = ImGui::GetItemRectMin();
  const float n = s.has_model() ? float(s.config().image_size) : 0.0f;
  if (n > 0 && !d.input.empty()) {
    const ImGuiIO& io = ImGui::GetIO();
    auto pixel = [&](ImVec2 p) {
      return ImVec2((p.x - origin.x) / size.x * n, (p.y - origin.y) / size.y * n);
    };
    if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 2.0f)) {
      ImVec2 a = pixel(io.MouseClickedPos[0]), b = pixel(io.MousePos);
      int64_t x0 = int64_t(std::floor(std::min(a.x, b.x))), y0 = int64_t(std::floor(std::min(a.y, b.y)));
      int64_t x1 = int64_t(std::ceil(std::max(a.x, b.x))), y1 = int64_t(std::ceil(std::max(a.y, b.y)));
      s.drops.set_hole(d.id, Rect{x0, y0, x1 - x0, y1 - y0});
    }
    if (ImGui::IsItemHovered() && ImGui::IsMouseClicked(ImGuiMouseButton_Right))
      s.drops.set_hole(d.id, std::nullopt);
    if (d.hole) {
      const float k = size.x / n;
      ImVec2 p0(origin.x + float(d.hole->x) * k, origin.y + float(d.hole->y) * k);
      ImVec2 p1(p0.x + float(d.hole->w) * k, p0.y + float(d.hole->h) * k);
      ImGui::GetWindowDrawList()->AddRect(p0, p1, IM_COL32(255, 200, 60, 255), 0, 0, 1.5f);
    }
  }
  if (ImGui::IsItemHovered() && !ImGui::IsItemActive())
    ImGui::SetTooltip("%s\ndrag a rectangle to inpaint it; right-click clears the hole",
                      d.path.c_str());
}
}  // namespace

void EncodePanel::draw(AppState& s) {
  if (!begin_panel("Encode", 0.24f, 0.72f, 0.36f, 0.28f)) {
    ImGui::End();
    return;
  }
  ImGui::SetNextItemWidth(-60);
  bool enter = ImGui::InputTextWithHint("##img", "drop images on the window, or type a path",
                                        &path_input_, ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::SameLine();
  if ((ImGui::Button("Add", ImVec2(-1, 0)) || enter) && !path_input_.empty())
    s.drops.handle({path_input_});
  if (s.drops.images().empty()) {
    ImGui::TextDisabled("Each dropped image appears beside its reconstruction G(E(x));");
    ImGui::TextDisabled(
        "its code goes onto the latent shelf. While a model trains they follow it live.");
    ImGui::End();
    return;
  }
  const float cell = std::clamp((ImGui::GetContentRegionAvail().x - 40) / 6.0f, 40.0f, 112.0f);
  const float card_w = cell * 2 + ImGui::GetStyle().ItemSpacing.x;
  int per_row = std::max(1, int((ImGui::GetContentRegionAvail().x + 10) / (card_w + 14)));
  const bool conditional = s.has_model() && s.config().conditional();
  ImGui::BeginChild("cards");
  int i = 0;
  uint64_t remove = 0;
  for (const auto& d : s.drops.images()) {
    if (i % per_row) ImGui::SameLine(0, 14);
    ImGui::PushID(int(d.id));
    ImGui::BeginGroup();
    inpaint_input(s, d, cell);
    ImGui::SameLine();
    const bool filled = d.hole && !d.filled.empty();
    image_widget(filled ? d.filled : d.recon, cell, cell, "out");
    if (ImGui::IsItemHovered()) {
      if (filled)
        ImGui::SetTooltip("inpainted, step %lld: outside the hole the input itself, inside "
                          "G(mu(E(x with the hole masked)))",
                          (long long)s.step());
      else if (conditional)
        ImGui::SetTooltip("reconstruction G(E(x, y), y), step %lld\ny: %s", (long long)s.step(),
                          s.attributes.summary().c_str());
      else
        ImGui::SetTooltip("reconstruction G(E(x)), step %lld", (long long)s.step());
    }
    std::string name = d.name.size() > 14 ? d.name.substr(0, 13) + "~" : d.name;
    ImGui::TextUnformatted(name.c_str());
    ImGui::SameLine(card_w - 48);
    if (ImGui::SmallButton("edit")) {
      if (const ShelfEntry* e = s.shelf.find_source(d.path))
        s.explore.set_inspect(e->code, e->name);
    }
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("load its code into the inspector");
    ImGui::SameLine();
    if (ImGui::SmallButton("x")) remove = d.id;
    if (conditional) {
      bool encoded = int(d.code.size()) == s.config().nlat;
      if (!encoded) ImGui::BeginDisabled();
      if (ImGui::SmallButton("Edit attributes")) s.drops.edit(d.id);
      if (!encoded) ImGui::EndDisabled();
      if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip("keep its code E(x, y) and change y in the Attributes panel");
    }
    ImGui::EndGroup();
    ImGui::PopID();
    ++i;
  }
  ImGui::EndChild();
  if (remove) s.drops.remove(remove);
  ImGui::End();
}

}  // namespace ali::explorer
