#include <algorithm>

#include "ali/text.h"
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
  ImGui::TextDisabled(s.live.sample_rows.empty() ? "samples G(z), fixed z"
                                                  : "samples G(z, y), y per row");
  ImVec2 top = ImGui::GetCursorScreenPos();
  ImVec2 size = image_widget(s.live.samples, w, h, "samples");
  // Conditional models: the attributes of the row under the mouse.
  const auto& rows = s.live.sample_rows;
  if (!rows.empty() && ImGui::IsItemHovered() && size.y > 0) {
    auto r = size_t(std::clamp((ImGui::GetMousePos().y - top.y) / size.y, 0.0f, 0.999f) * float(rows.size()));
    ImGui::SetTooltip("row %zu: %s", r + 1, joined(rows[r]).c_str());
  }
  ImGui::EndGroup();
  ImGui::SameLine();
  ImGui::BeginGroup();
  ImGui::TextDisabled("test images / reconstructions G(E(x))");
  if (!s.data.test_set && !s.data.test_set_problem.empty())
    ImGui::TextWrapped("not shown: %s", s.data.test_set_problem.c_str());
  else if (s.live.recons.empty() && !s.data.test_set)
    ImGui::TextDisabled("(loading the test set...)");
  else
    image_widget(s.live.recons, w, h, "recons");
  ImGui::EndGroup();
  ImGui::End();
}

}  // namespace ali::explorer
