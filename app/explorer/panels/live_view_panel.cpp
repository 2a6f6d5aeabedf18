#include "panels.h"

namespace ali::explorer {

void LiveViewPanel::draw(AppState& s) {
  if (!begin_panel("Samples and reconstructions", 0.24f, 0.0f, 0.36f, 0.36f)) {
    ImGui::End();
    return;
  }
  ImVec2 avail = ImGui::GetContentRegionAvail();
  float gap = ImGui::GetStyle().ItemSpacing.x;
  float w = (avail.x - gap) / 2;
  float h = avail.y - ImGui::GetTextLineHeightWithSpacing();
  ImGui::BeginGroup();
  ImGui::TextDisabled("samples G(z), fixed z");
  image_widget(s.live.samples, w, h, "samples");
  ImGui::EndGroup();
  ImGui::SameLine();
  ImGui::BeginGroup();
  ImGui::TextDisabled("test images / reconstructions G(E(x))");
  if (s.live.recons.empty() && !s.data.test_set)
    ImGui::TextDisabled("(loading the test set...)");
  else
    image_widget(s.live.recons, w, h, "recons");
  ImGui::EndGroup();
  ImGui::End();
}

}  // namespace ali::explorer
