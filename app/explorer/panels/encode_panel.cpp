#include <cfloat>
#include <cmath>
#include <cstdio>
#include <optional>

#include "imgui.h"
#include "imgui_stdlib.h"
#include "ali/text.h"
#include "panels.h"
#include "state_util.h"

namespace ali::explorer {

namespace {
std::optional<std::pair<uint64_t, ConformOptions>> drag_crop;  // a crop being dragged
constexpr int kRefineSteps = 100;  // what a card's Refine and "refine the fill" ask for

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
    ImGui::SetTooltip("what the model sees (framing: %s%s)\ndrag a rectangle to inpaint it; "
                      "right-click clears the hole",
                      d.framing.empty() ? "-" : d.framing.c_str(), d.inverted ? ", negated" : "");
}

// The dropped picture itself; dragging a rectangle on it sets the crop the model sees (its overrides
// then say "crop: by hand"), a right click goes back to the automatic crop. The crop in use is drawn.
void crop_original(AppState& s, const DroppedImage& d, float cell) {
  ImVec2 size = image_widget(d.original, cell, cell, "orig");
  ImVec2 origin = ImGui::GetItemRectMin();
  const float w = float(d.hwc.size(1)), h = float(d.hwc.size(0));
  const float k = size.x / w;
  const ImGuiIO& io = ImGui::GetIO();
  if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 2.0f)) {
    ImVec2 a = io.MouseClickedPos[0], b = io.MousePos;
    double x0 = std::clamp((std::min(a.x, b.x) - origin.x) / k, 0.0f, w);
    double y0 = std::clamp((std::min(a.y, b.y) - origin.y) / k, 0.0f, h);
    double x1 = std::clamp((std::max(a.x, b.x) - origin.x) / k, 0.0f, w);
    double y1 = std::clamp((std::max(a.y, b.y) - origin.y) / k, 0.0f, h);
    if (x1 - x0 >= 2 && y1 - y0 >= 2) {
      ConformOptions o = d.conform;
      o.crop = Box{x0, y0, x1 - x0, y1 - y0};
      o.raw = false;
      // Applied when the drag ends, so a drag does not re-encode at every frame.
      drag_crop = {d.id, o};
    }
  }
  if (ImGui::IsItemDeactivated() && drag_crop && drag_crop->first == d.id) {
    s.drops.set_conform(d.id, drag_crop->second);
    drag_crop.reset();
  }
  if (ImGui::IsItemHovered() && ImGui::IsMouseClicked(ImGuiMouseButton_Right) && d.conform.crop) {
    ConformOptions o = d.conform;
    o.crop.reset();
    s.drops.set_conform(d.id, o);
  }
  const Box* shown = drag_crop && drag_crop->first == d.id ? &*drag_crop->second.crop
                     : d.conform.crop                      ? &*d.conform.crop
                                                           : nullptr;
  if (shown) {
    ImVec2 p0(origin.x + float(shown->x) * k, origin.y + float(shown->y) * k);
    ImVec2 p1(p0.x + float(shown->w) * k, p0.y + float(shown->h) * k);
    ImGui::GetWindowDrawList()->AddRect(p0, p1, IM_COL32(80, 200, 255, 255), 0, 0, 1.5f);
  }
  if (ImGui::IsItemHovered() && !ImGui::IsItemActive())
    ImGui::SetTooltip("%s (%lld x %lld as kept)\ndrag a rectangle to choose the crop the model sees; "
                      "right-click: automatic crop",
                      d.path.c_str(), (long long)d.hwc.size(1), (long long)d.hwc.size(0));
}

// The card's quick overrides of conforming, and refinement.
void conform_controls(AppState& s, const DroppedImage& d) {
  ConformOptions o = d.conform;
  bool changed = false;
  ImGui::SetNextItemWidth(ImGui::CalcTextSize("invert: auto ").x + 24);
  const char* inv[] = {"invert: auto", "invert: on", "invert: off"};
  int iv = int(o.invert);
  if (ImGui::Combo("##inv", &iv, inv, 3)) {
    o.invert = Toggle(iv);
    changed = true;
  }
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("negate the picture: auto does when its background is light%s",
                      d.inverted ? " (it did)" : "");
  ImGui::SameLine();
  bool crop = o.auto_crop;
  if (ImGui::Checkbox(o.crop ? "crop: by hand" : "crop", &crop)) {
    o.auto_crop = crop;
    o.crop.reset();
    changed = true;
  }
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip(o.crop ? "the rectangle dragged on the picture; right-click the picture (or untick) for the "
                               "automatic crop"
                             : "crop to the object (or face) found against the background; off: the whole picture");
  ImGui::SameLine();
  bool raw = o.raw;
  if (ImGui::Checkbox("raw", &raw)) {
    o.raw = raw;
    changed = true;
  }
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("no conforming: shorter side to the model's size, centre crop (as before)");
  if (changed) s.drops.set_conform(d.id, o);
  ImGui::SameLine();
  if (d.refining()) {
    ImGui::Text("refining %d/%d", d.refine_done, d.refine_target);
  } else {
    if (ImGui::SmallButton(d.refined.empty() ? "Refine" : "Refine again")) s.drops.refine(d.id, kRefineSteps);
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("%d steps of gradient descent on z from E(x): pixels, classifier features and "
                        "the prior; the refined code then stands for the image",
                        kRefineSteps);
    if (!d.refined.empty()) {
      ImGui::SameLine();
      if (ImGui::SmallButton("encoder")) s.drops.drop_refinement(d.id);
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("drop the refined code: back to E(x)");
    }
  }
  if (d.hole) {
    bool refine_fill = d.hole_refine > 0;
    if (ImGui::Checkbox("refine the fill", &refine_fill)) s.drops.set_hole_refine(d.id, refine_fill ? kRefineSteps : 0);
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("then %d steps of gradient descent on the fill's code, fitting the pixels around "
                        "the hole\n(100 steps on one thread: 0.33 s a face, 0.13 s a 28x28 image; in "
                        "Fashion-MNIST test holes MSE 0.050 -> 0.025)",
                        kRefineSteps);
  }
  if (!d.warning.empty()) ImGui::TextColored(ImVec4(1.0f, 0.7f, 0.25f, 1.0f), "%s", d.warning.c_str());
  if (d.refine_mse.size() >= 2) {
    std::vector<float> curve(d.refine_mse.begin(), d.refine_mse.end());
    char label[96];
    std::snprintf(label, sizeof label, "MSE %.4f -> %.4f", d.refine_mse.front(), d.refine_mse.back());
    ImGui::PlotLines("##mse", curve.data(), int(curve.size()), 0, label, 0.0f, FLT_MAX, ImVec2(260, 34));
  }
}
}  // namespace

void EncodePanel::draw(AppState& s) {
  if (!begin_panel("Encode", 0.24f, 0.72f, 0.36f, 0.28f)) {
    ImGui::End();
    return;
  }
  const bool recent = !s.settings.recent_images.empty();
  ImGui::SetNextItemWidth(recent ? -230 : -150);
  bool enter = ImGui::InputTextWithHint("##img", "drop images on the window, or type a path",
                                        &path_input_, ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::SameLine();
  if ((ImGui::Button("Add") || enter) && !path_input_.empty()) s.drops.handle({path_input_});
  ImGui::SameLine();
  if (ImGui::Button("Browse...")) s.browse(BrowsePurpose::AddImages);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("choose images in a file dialog");
  if (recent) {
    ImGui::SameLine();
    ImGui::SetNextItemWidth(-1);
    if (ImGui::BeginCombo("##recent_images", "recent", ImGuiComboFlags_HeightLarge)) {
      for (const auto& r : s.settings.recent_images)
        if (ImGui::Selectable(r.c_str())) s.drops.handle({r});
      ImGui::EndCombo();
    }
  }
  if (s.drops.images().empty()) {
    ImGui::TextDisabled("Each dropped image appears beside its reconstruction G(E(x));");
    ImGui::TextDisabled(
        "its code goes onto the latent shelf. While a model trains they follow it live.");
    ImGui::End();
    return;
  }
  const float cell = std::clamp((ImGui::GetContentRegionAvail().x - 40) / 8.0f, 40.0f, 112.0f);
  const float card_w = cell * 4 + 3 * ImGui::GetStyle().ItemSpacing.x;
  int per_row = std::max(1, int((ImGui::GetContentRegionAvail().x + 10) / (card_w + 14)));
  const bool conditional = s.has_model() && s.config().conditional();
  ImGui::BeginChild("cards");
  int i = 0;
  uint64_t remove = 0;
  for (const auto& d : s.drops.images()) {
    if (i % per_row) ImGui::SameLine(0, 14);
    ImGui::PushID(int(d.id));
    ImGui::BeginGroup();
    crop_original(s, d, cell);
    ImGui::SameLine();
    inpaint_input(s, d, cell);
    ImGui::SameLine();
    const bool filled = d.hole && !d.filled.empty();
    image_widget(filled ? d.filled : d.recon, cell, cell, "out");
    if (ImGui::IsItemHovered()) {
      if (filled)
        ImGui::SetTooltip("inpainted, step %lld: outside the hole the input itself, inside\n%s%s",
                          (long long)s.step(), inpainting_method(s.config()).c_str(),
                          d.filled_refine > 0 ? ",\nits code then refined on the pixels around the hole" : "");
      else if (conditional)
        ImGui::SetTooltip("reconstruction G(E(x, y), y), step %lld\ny: %s", (long long)s.step(),
                          s.attributes.summary().c_str());
      else
        ImGui::SetTooltip("reconstruction G(E(x)), step %lld", (long long)s.step());
    }
    ImGui::SameLine();
    image_widget(d.refined_recon, cell, cell, "refined");
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip(d.refined.empty() ? "refined reconstruction G(z*): press Refine"
                                          : "refined reconstruction G(z*), %d steps from E(x) on step %lld",
                        d.refine_done, (long long)d.refined_at_step);
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
    conform_controls(s, d);
    if (conditional) {
      bool encoded = int(d.code.size()) == s.config().nlat;
      if (!encoded) ImGui::BeginDisabled();
      if (ImGui::SmallButton("Edit attributes")) s.drops.edit(d.id);
      if (!encoded) ImGui::EndDisabled();
      if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip(d.attributes.empty()
                              ? "keep its code E(x, y) and change y in the Attributes panel"
                              : "keep its code E(x, y), y what the model reads in it, and toggle y in "
                                "the Attributes panel");
      if (!d.attributes.empty()) {
        auto on = attributes_on(s.config(), code_tensor(d.attributes));
        ImGui::TextWrapped("reads: %s", on.empty() ? "none" : joined(on).c_str());
      }
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
