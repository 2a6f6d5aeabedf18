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
  const int nlat = s.has_model ? s.config().nlat : 0;
  if (ImGui::Button("+ random")) {
    static std::mt19937_64 rng(std::random_device{}());
    uint64_t seed = rng() % 1000000;
    auto z = seeded_normal(1, nlat, seed)[0].contiguous();
    s.add_to_shelf("random #" + std::to_string(seed),
                   std::vector<float>(z.data_ptr<float>(), z.data_ptr<float>() + nlat), "");
  }
  ImGui::SameLine();
  if (ImGui::Button("+ inspector code") && int(s.inspect_code.size()) == nlat)
    s.add_to_shelf(s.inspect_source + " (edited)", s.inspect_code, "");
  ImGui::SameLine();
  ImGui::TextDisabled("%zu codes, saved with the session", s.shelf.size());
  ImGui::Separator();
  ImGui::BeginChild("entries");
  int move_from = -1, move_to = -1;
  uint64_t remove = 0;
  const float thumb = ImGui::GetFrameHeight() * 1.6f;
  for (size_t i = 0; i < s.shelf.size(); ++i) {
    ShelfEntry& e = s.shelf[i];
    ImGui::PushID(int(e.id));
    bool fits = int(e.code.size()) == nlat;
    image_widget(s.renderer, fits ? e.thumb.get() : nullptr, thumb, thumb, "thumb");
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
    if (ImGui::InputText("##name", &e.name)) s.shelf_dirty = true;
    ImGui::SameLine();
    if (!fits) ImGui::BeginDisabled();
    if (ImGui::SmallButton("A")) {
      s.ends[0].shelf_id = e.id;
      s.post_interp();
      s.post_strip();
    }
    ImGui::SameLine();
    if (ImGui::SmallButton("B")) {
      s.ends[1].shelf_id = e.id;
      s.post_interp();
      s.post_strip();
    }
    ImGui::SameLine();
    if (ImGui::SmallButton("inspect")) s.set_inspect(e.code, e.name);
    if (!fits) ImGui::EndDisabled();
    ImGui::SameLine();
    if (ImGui::ArrowButton("up", ImGuiDir_Up) && i > 0) move_from = int(i), move_to = int(i) - 1;
    ImGui::SameLine();
    if (ImGui::ArrowButton("down", ImGuiDir_Down) && i + 1 < s.shelf.size())
      move_from = int(i), move_to = int(i) + 1;
    ImGui::SameLine();
    if (ImGui::SmallButton("x")) remove = e.id;
    if (!fits)
      ImGui::TextColored(ImVec4(1, 0.6f, 0.3f, 1), "latent size %zu, this model takes %d", e.code.size(), nlat);
    else
      ImGui::TextDisabled("%s", e.source.empty() ? "code" : ("from " + e.source).c_str());
    ImGui::EndGroup();
    ImGui::PopID();
  }
  ImGui::EndChild();
  if (move_from >= 0 && move_to >= 0 && move_from != move_to) {
    ShelfEntry e = std::move(s.shelf[size_t(move_from)]);
    s.shelf.erase(s.shelf.begin() + move_from);
    s.shelf.insert(s.shelf.begin() + move_to, std::move(e));
    s.shelf_dirty = true;
  }
  if (remove) {
    s.shelf.erase(std::remove_if(s.shelf.begin(), s.shelf.end(), [&](auto& x) { return x.id == remove; }),
                  s.shelf.end());
    s.shelf_dirty = true;
    s.post_interp();
    s.post_strip();
  }
  ImGui::End();
}

}  // namespace ali::explorer
