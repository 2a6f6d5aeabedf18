#include <algorithm>

#include "ali/device.h"
#include "ali/objective.h"
#include "imgui.h"
#include "imgui_stdlib.h"
#include "panels.h"

namespace ali::explorer {

void ModelPanel::draw(AppState& s) {
  if (!begin_panel("Model", 0.0f, 0.0f, 0.24f, 0.40f)) {
    ImGui::End();
    return;
  }
  const ModelConfig& c = s.config();
  if (!s.has_model()) {
    ImGui::TextDisabled(s.tasks.busy() ? "loading..."
                                       : "no model: open a checkpoint or create one");
  } else if (ImGui::BeginTable("summary", 2, ImGuiTableFlags_SizingFixedFit)) {
    auto row = [](const char* k, const std::string& v) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextDisabled("%s", k);
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(v.c_str());
    };
    row("file", s.host.path.empty()
                    ? (s.host.session ? s.host.session_checkpoint : "(new, unsaved)")
                    : s.host.path);
    row("preset", c.arch + (c.bigan ? " (BiGAN)" : ""));
    row("objective", c.objective.empty() ? "ali" : c.objective);
    if (ImGui::IsItemHovered())
      for (const auto& o : objective_catalog())
        if (o.name == c.objective) ImGui::SetTooltip("%s", o.description.c_str());
    row("latent", std::to_string(c.nlat) + " dimensions");
    row("images", std::to_string(c.image_channels) + " x " + std::to_string(c.image_size) + " x " +
                      std::to_string(c.image_size));
    const std::string origin = describe_origin(s.host.header.extra);
    row("step", std::to_string(s.step()) + (origin.empty() ? "" : " (fine-tuned)"));
    if (!origin.empty() && ImGui::IsItemHovered()) ImGui::SetTooltip("%s", origin.c_str());
    row("dataset", c.dataset.empty() ? "-" : c.dataset);
    if (c.conditional()) row("conditional", std::to_string(c.attributes.size()) + " attributes");
    ImGui::EndTable();
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", c.spec().description.c_str());
  }
  ImGui::Separator();

  // Open: a path field with the recent files; files can also be dropped on the window.
  ImGui::SetNextItemWidth(-70);
  bool enter = ImGui::InputTextWithHint("##open", "checkpoint.ali path (or drop it)", &path_input_,
                                        ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::SameLine();
  if (ImGui::Button("Open", ImVec2(-1, 0)) || enter) s.host.open(path_input_);
  if (ImGui::Button("Browse...")) s.browse(BrowsePurpose::OpenModel);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("choose a .ali checkpoint in a file dialog");
  if (!s.settings.recent.empty()) {
    ImGui::SameLine();
    ImGui::SetNextItemWidth(-70);
    if (ImGui::BeginCombo("recent", "recent files...")) {
      for (const auto& r : s.settings.recent)
        if (ImGui::Selectable(r.c_str())) {
          path_input_ = r;
          s.host.open(r);
        }
      ImGui::EndCombo();
    }
  }

  // The trained models that ship in assets/ (the unconditional default and the conditional one).
  if (!shipped_scanned_) {
    shipped_ = find_shipped_models(s.options.executable_dir);
    shipped_scanned_ = true;
  }
  if (!shipped_.empty()) {
    ImGui::TextDisabled("shipped");
    // The buttons wrap onto further lines when the panel is too narrow for them all.
    const float right = ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x;
    for (const auto& p : shipped_) {
      const std::string label = p.stem().string();
      const float w = ImGui::CalcTextSize(label.c_str()).x + 2 * ImGui::GetStyle().FramePadding.x;
      if (ImGui::GetItemRectMax().x + ImGui::GetStyle().ItemSpacing.x + w <= right) ImGui::SameLine();
      if (ImGui::SmallButton(label.c_str())) s.host.open(p.string());
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", p.string().c_str());
    }
  }

  // New model from a preset, trained on the chosen dataset.
  static const auto names = arch_preset_names();
  // The open model's preset, picked again whenever a model of another preset opens (the first frames
  // may come before the model has loaded); a choice in the combo stands until then.
  const std::string shown_arch = s.has_model() ? c.arch : std::string("fmnist28");
  if (shown_arch != preset_arch_) {
    auto it = std::find(names.begin(), names.end(), shown_arch);
    preset_ = it == names.end() ? 0 : int(it - names.begin());
    preset_arch_ = shown_arch;
  }
  ImGui::SetNextItemWidth(110);
  if (ImGui::BeginCombo("##preset", names[size_t(preset_)].c_str())) {
    for (size_t i = 0; i < names.size(); ++i) {
      if (ImGui::Selectable(names[i].c_str(), int(i) == preset_)) preset_ = int(i);
      if (ImGui::IsItemHovered())
        ImGui::SetTooltip("%s", arch_preset(names[i]).description.c_str());
    }
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  ObjectiveChoice& oc = s.host.objective_choice;
  const std::string current_objective = oc.objective.empty() ? "ali" : oc.objective;
  ImGui::SetNextItemWidth(110);
  if (ImGui::BeginCombo("##objective", current_objective.c_str())) {
    for (const auto& o : objective_catalog()) {
      if (ImGui::Selectable(o.name.c_str(), o.name == current_objective)) oc.objective = o.name;
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", o.description.c_str());
    }
    ImGui::EndCombo();
  }
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("training objective of the new model");
  ImGui::SameLine();
  if (ImGui::Button("New model")) s.host.create(names[size_t(preset_)]);
  help_marker(
      "An untrained model of this preset and objective for the dataset below, ready to train. "
      "GALI objectives turn on spectral normalisation and instance noise, as released.");
  if (current_objective == "semi") {
    long long labels = oc.labels;
    ImGui::SetNextItemWidth(110);
    if (ImGui::InputScalar("labelled images", ImGuiDataType_S64, &labels, nullptr, nullptr, "%lld"))
      oc.labels = std::max<long long>(1, labels);
    help_marker("semi: this many training images keep their labels (class-balanced, seeded).");
  }

  if (!dataset_synced_ || (!ImGui::IsAnyItemActive() && dataset_input_ != s.data.dataset &&
                           !s.data.dataset.empty() && !ImGui::IsWindowFocused())) {
    dataset_input_ = s.data.dataset;
    dataset_synced_ = true;
  }
  ImGui::SetNextItemWidth(-70);
  bool ds_enter = ImGui::InputTextWithHint("##data", "fashion-mnist or a folder", &dataset_input_,
                                           ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::SameLine();
  if ((ImGui::Button("Data", ImVec2(-1, 0)) || ds_enter) && !dataset_input_.empty())
    s.data.set_dataset(dataset_input_);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip(
        "Training data: fashion-mnist, an IDX folder or an image folder (or drop a folder).");

  ImGui::SetNextItemWidth(-70);
  ImGui::InputTextWithHint("##save", "save to: a new file under the config folder's runs/",
                           &s.host.save_path);
  ImGui::SameLine();
  if (ImGui::Button("Save", ImVec2(-1, 0))) s.host.save();
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Ctrl+S. While training: a checkpoint of the run now.");

  // Device: CUDA when LibTorch has it; applies to the next run.
  ImGui::Separator();
  const bool cuda = cuda_available();
  const char* devices[] = {"auto", "cpu", "cuda"};
  ImGui::SetNextItemWidth(90);
  if (ImGui::BeginCombo("device", s.host.device_choice.c_str())) {
    for (const char* d : devices) {
      bool disabled = std::string(d) == "cuda" && !cuda;
      if (disabled) ImGui::BeginDisabled();
      if (ImGui::Selectable(d, s.host.device_choice == d)) s.host.device_choice = d;
      if (disabled) ImGui::EndDisabled();
    }
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  std::string resolved;
  try {
    resolved = device_description(resolve_device(s.host.device_choice));
  } catch (const std::exception& e) {
    resolved = "unavailable";
  }
  if (s.host.session && s.host.training_active())
    ImGui::TextDisabled("run: %s", device_description(s.host.train_device).c_str());
  else
    ImGui::TextDisabled("next run: %s", resolved.c_str());
  if (!cuda) ImGui::TextDisabled("CUDA: not available in this LibTorch");
  ImGui::End();
}

}  // namespace ali::explorer
