#include "imgui.h"
#include "imgui_stdlib.h"
#include "panels.h"

namespace ali::explorer {

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
    image_widget(d.input, cell, cell, "in");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", d.path.c_str());
    ImGui::SameLine();
    image_widget(d.recon, cell, cell, "out");
    if (ImGui::IsItemHovered()) {
      if (conditional)
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
