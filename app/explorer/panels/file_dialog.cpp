// The in-window file browser (when the desktop has no dialog of its own): folders and the files the
// purpose accepts, a path field to jump anywhere, multi-selection for images.
#include <cstdio>

#include "imgui.h"
#include "imgui_stdlib.h"
#include "panels.h"

namespace ali::explorer {

void FileDialog::draw(AppState& s) {
  FileBrowser& b = s.browser;
  const bool images = b.purpose() == BrowsePurpose::AddImages, runs = b.purpose() == BrowsePurpose::WatchRun;
  const char* title = runs ? "Watch a run folder###browse" : images ? "Add images###browse" : "Open model###browse";
  if (b.is_open() && !ImGui::IsPopupOpen("###browse")) {
    ImGui::OpenPopup(title);
    location_ = b.dir().string();
  }
  ImGui::SetNextWindowSize(ImVec2(640, 480), ImGuiCond_Appearing);
  if (!ImGui::BeginPopupModal(title, nullptr, ImGuiWindowFlags_NoSavedSettings)) return;
  if (!b.is_open()) {
    ImGui::CloseCurrentPopup();
    ImGui::EndPopup();
    return;
  }
  if (ImGui::Button("Up")) {
    b.up();
    location_ = b.dir().string();
  }
  ImGui::SameLine();
  ImGui::SetNextItemWidth(-120);
  if (ImGui::InputText("##where", &location_, ImGuiInputTextFlags_EnterReturnsTrue)) {
    if (!b.go(location_)) location_ = b.dir().string();
  }
  ImGui::SameLine();
  bool all = b.show_all();
  if (ImGui::Checkbox("all files", &all)) b.set_show_all(all);
  if (!b.error().empty()) ImGui::TextColored(ImVec4(1, 0.45f, 0.4f, 1), "%s", b.error().c_str());
  const float footer = ImGui::GetFrameHeightWithSpacing() + 6;
  ImGui::BeginChild("entries", ImVec2(0, -footer), true);
  std::string clicked;
  bool open_now = false;
  for (const auto& e : b.entries()) {
    char label[512];
    if (e.folder)
      std::snprintf(label, sizeof label, e.run ? "[%s]   run" : "[%s]", e.name.c_str());
    else
      std::snprintf(label, sizeof label, "%-48s %8.1f KiB", e.name.c_str(), double(e.size) / 1024.0);
    bool selected = b.selected().count(e.name) > 0;
    if (ImGui::Selectable(label, selected, ImGuiSelectableFlags_AllowDoubleClick)) {
      clicked = e.name;
      open_now = !e.folder && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left);
    }
  }
  if (b.entries().empty()) ImGui::TextDisabled("no folders or matching files here");
  ImGui::EndChild();
  if (!clicked.empty()) {
    b.click(clicked);
    location_ = b.dir().string();
  }
  ImGui::BeginDisabled(!b.can_take());
  char go[64];
  std::snprintf(go, sizeof go, runs ? "Watch this run" : images ? "Add %zu image%s" : "Open", b.selected().size(),
                b.selected().size() == 1 ? "" : "s");
  if (ImGui::Button(go, ImVec2(140, 0)) || (open_now && b.can_take())) {
    auto purpose = b.purpose();
    s.chosen(purpose, b.take());
  }
  ImGui::EndDisabled();
  ImGui::SameLine();
  if (ImGui::Button("Cancel", ImVec2(120, 0)) || ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape)))
    b.close();
  ImGui::SameLine();
  ImGui::TextDisabled(runs     ? "enter a folder that `ali train --out` writes (log.csv, checkpoint.ali)"
                      : images ? "click images to select several"
                               : ".ali checkpoints");
  if (!b.is_open()) ImGui::CloseCurrentPopup();
  ImGui::EndPopup();
}

}  // namespace ali::explorer
