#include "ali/device.h"
#include "imgui.h"
#include "imgui_stdlib.h"
#include "panels.h"

namespace ali::explorer {

void StatusBar::draw(AppState& s) {
  ImVec2 d = ImGui::GetIO().DisplaySize;
  float h = ImGui::GetFrameHeight() + 8;
  ImGui::SetNextWindowPos(ImVec2(0, d.y - h));
  ImGui::SetNextWindowSize(ImVec2(d.x, h));
  ImGuiWindowFlags flags = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                           ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoFocusOnAppearing |
                           ImGuiWindowFlags_NoBringToFrontOnFocus;
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(8, 4));
  ImGui::Begin("##status", nullptr, flags);
  ImGui::Text("frame p50 %.1f ms  p95 %.1f ms  max %.1f ms", s.frames.p50(), s.frames.p95(),
              s.frames.max());
  ImGui::SameLine(0, 20);
  if (s.host.session)
    ImGui::Text("| %s on %s", to_string(s.host.session->state()),
                device_description(s.host.train_device).c_str());
  else
    ImGui::Text("| %s", s.tasks.busy() ? "working..." : "idle");
  ImGui::SameLine(0, 20);
  ImGui::TextDisabled("| Space pause/resume  Ctrl+O open  Ctrl+S save");
  ImGui::SameLine(0, 20);
  if (ImGui::SmallButton("Screenshot")) s.want_screenshot = true;
  ImGui::SameLine();
  if (ImGui::SmallButton("Messages")) show_messages_ = !show_messages_;
  if (!s.messages.empty()) {
    const Message& m = s.messages.back();
    ImGui::SameLine();
    bool recent = s.now() - m.time < 30 || m.error;
    if (recent)
      ImGui::TextColored(m.error ? ImVec4(1, 0.45f, 0.4f, 1) : ImVec4(0.6f, 0.85f, 1, 1), "%s%s",
                         m.error ? "error: " : "", m.text.c_str());
  }
  ImGui::End();
  ImGui::PopStyleVar();

  if (show_messages_) {
    ImGui::SetNextWindowSize(ImVec2(d.x * 0.5f, d.y * 0.3f), ImGuiCond_FirstUseEver);
    ImGui::SetNextWindowPos(ImVec2(d.x * 0.25f, d.y * 0.6f), ImGuiCond_FirstUseEver);
    if (ImGui::Begin("Messages", &show_messages_)) {
      if (ImGui::SmallButton("Clear")) s.messages.clear();
      ImGui::BeginChild("log");
      for (const auto& m : s.messages)
        ImGui::TextColored(m.error ? ImVec4(1, 0.45f, 0.4f, 1) : ImVec4(0.85f, 0.85f, 0.85f, 1),
                           "%7.1fs  %s", m.time, m.text.c_str());
      if (ImGui::GetScrollY() >= ImGui::GetScrollMaxY()) ImGui::SetScrollHereY(1.0f);
      ImGui::EndChild();
    }
    ImGui::End();
  }
}

void OpenDialog::draw(AppState& s) {
  if (s.open_popup) {
    ImGui::OpenPopup("Open checkpoint");
    s.open_popup = false;
    focus_ = true;
  }
  ImGui::SetNextWindowSize(ImVec2(560, 0), ImGuiCond_Appearing);
  if (ImGui::BeginPopupModal("Open checkpoint", nullptr, ImGuiWindowFlags_NoSavedSettings)) {
    if (focus_) {
      ImGui::SetKeyboardFocusHere();
      focus_ = false;
    }
    ImGui::SetNextItemWidth(-1);
    bool enter = ImGui::InputTextWithHint("##path", "path to a .ali checkpoint", &input_,
                                          ImGuiInputTextFlags_EnterReturnsTrue);
    for (const auto& r : s.settings.recent)
      if (ImGui::Selectable(r.c_str())) input_ = r;
    if (ImGui::Button("Open", ImVec2(120, 0)) || enter) {
      s.host.open(input_);
      ImGui::CloseCurrentPopup();
    }
    ImGui::SameLine();
    if (ImGui::Button("Browse...", ImVec2(120, 0))) {
      ImGui::CloseCurrentPopup();
      s.browse(BrowsePurpose::OpenModel);
    }
    ImGui::SameLine();
    if (ImGui::Button("Cancel", ImVec2(120, 0)) ||
        ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape)))
      ImGui::CloseCurrentPopup();
    ImGui::EndPopup();
  }
}

}  // namespace ali::explorer
