#include <random>

#include "imgui.h"
#include "imgui_stdlib.h"
#include "panels.h"

namespace ali::explorer {

void ShelfPanel::draw(AppState& s) {
  if (!begin_panel("Latent shelf", 0.60f, 0.0f, 0.40f, 0.30f)) {
    ImGui::End();
    return;
  }
  const int nlat = s.has_model() ? s.config().nlat : 0;
  if (ImGui::Button("+ random")) {
    static std::mt19937_64 rng(std::random_device{}());
    uint64_t seed = rng() % 1000000;
    auto z = seeded_normal(1, nlat, seed)[0].contiguous();
    s.shelf.add("random #" + std::to_string(seed),
                std::vector<float>(z.data_ptr<float>(), z.data_ptr<float>() + nlat), "");
  }
  ImGui::SameLine();
  if (ImGui::Button("+ inspector code") && int(s.explore.inspect_code.size()) == nlat)
    s.shelf.add(s.explore.inspect_source + " (edited)", s.explore.inspect_code, "");
  ImGui::SameLine();
  ImGui::TextDisabled("%zu codes, saved with the session", s.shelf.size());
  ImGui::Separator();
  ImGui::BeginChild("entries");
  int move_from = -1, move_to = -1;
  uint64_t remove = 0;
  const float thumb = ImGui::GetFrameHeight() * 1.6f;
  for (size_t i = 0; i < s.shelf.size(); ++i) {
    const ShelfEntry& e = s.shelf.entries()[i];
    ImGui::PushID(int(e.id));
    bool fits = int(e.code.size()) == nlat;
    static const Image none;  // (not Image{}: the conditional would then copy e.thumb every frame)
    image_widget(fits ? e.thumb : none, thumb, thumb, "thumb");
    if (ImGui::BeginDragDropSource()) {  // drag a row onto another to reorder
      int from = int(i);
      ImGui::SetDragDropPayload("ALI_SHELF", &from, sizeof from);
      ImGui::Text("move %s", e.name.c_str());
      ImGui::EndDragDropSource();
    }
    if (ImGui::BeginDragDropTarget()) {
      if (const ImGuiPayload* p = ImGui::AcceptDragDropPayload("ALI_SHELF")) {
        move_from = *static_cast<const int*>(p->Data);
        move_to = int(i);
      }
      ImGui::EndDragDropTarget();
    }
    ImGui::SameLine();
    ImGui::BeginGroup();
    ImGui::SetNextItemWidth(std::max(80.0f, ImGui::GetContentRegionAvail().x - 200));
    std::string name = e.name;
    if (ImGui::InputText("##name", &name)) s.shelf.rename(e.id, name);
    ImGui::SameLine();
    if (!fits) ImGui::BeginDisabled();
    if (ImGui::SmallButton("A")) s.explore.set_endpoint(0, e.id);
    ImGui::SameLine();
    if (ImGui::SmallButton("B")) s.explore.set_endpoint(1, e.id);
    ImGui::SameLine();
    if (ImGui::SmallButton("inspect")) s.explore.set_inspect(e.code, e.name);
    if (!fits) ImGui::EndDisabled();
    ImGui::SameLine();
    if (ImGui::ArrowButton("up", ImGuiDir_Up) && i > 0) move_from = int(i), move_to = int(i) - 1;
    ImGui::SameLine();
    if (ImGui::ArrowButton("down", ImGuiDir_Down) && i + 1 < s.shelf.size())
      move_from = int(i), move_to = int(i) + 1;
    ImGui::SameLine();
    if (ImGui::SmallButton("x")) remove = e.id;
    if (!fits)
      ImGui::TextColored(ImVec4(1, 0.6f, 0.3f, 1), "latent size %zu, this model takes %d",
                         e.code.size(), nlat);
    else
      ImGui::TextDisabled("%s", e.source.empty() ? "code" : ("from " + e.source).c_str());
    ImGui::EndGroup();
    ImGui::PopID();
  }
  ImGui::EndChild();
  if (move_from >= 0 && move_to >= 0) s.shelf.move(size_t(move_from), size_t(move_to));
  if (remove) s.shelf.remove(remove);
  ImGui::End();
}

}  // namespace ali::explorer
