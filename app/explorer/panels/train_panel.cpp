#include "ali/objective.h"
#include "ali/text.h"
#include "panels.h"

namespace ali::explorer {

namespace {
// A run another process trains (File > Watch run): where, how far its log and its last checkpoint
// are, and how long since the folder last changed.
void watch_status(AppState& s) {
  const RunWatch& w = s.watch;
  ImGui::TextColored(ImVec4(0.45f, 0.85f, 1, 1), "watching a run (read-only)");
  ImGui::SameLine();
  if (ImGui::SmallButton("stop watching")) {
    s.watch.stop();
    return;
  }
  ImGui::TextWrapped("%s", w.folder().string().c_str());
  const double rate = w.log().steps_per_second();
  ImGui::Text("log: step %lld", (long long)w.log().last_step());
  if (rate > 0) {
    ImGui::SameLine();
    ImGui::Text("| %.2f it/s", rate);
  }
  if (w.checkpoint_step() >= 0)
    ImGui::Text("model: checkpoint of step %lld (%d loaded)", (long long)w.checkpoint_step(),
                w.checkpoints_loaded());
  else
    ImGui::TextDisabled("model: waiting for the run's first checkpoint");
  const double quiet = w.since_change();
  if (quiet > 120)
    ImGui::TextColored(ImVec4(1, 0.75f, 0.3f, 1), "no change for %s: finished, stopped or stalled?",
                       format_duration(quiet).c_str());
  if (w.log().bad_rows())
    ImGui::TextColored(ImVec4(1, 0.75f, 0.3f, 1), "%lld log rows could not be read",
                       (long long)w.log().bad_rows());
  help_marker("Curves follow the folder's log.csv; each checkpoint.ali that lands becomes the model every "
              "view draws with. Train continues from it here, in a run of this program's own.");
  ImGui::Separator();
}
}  // namespace

void TrainPanel::draw(AppState& s) {
  if (!begin_panel("Train", 0.0f, 0.40f, 0.24f, 0.60f)) {
    ImGui::End();
    return;
  }
  if (s.watch.active()) watch_status(s);
  TrainState st = s.host.session ? s.host.session->state() : TrainState::Idle;
  bool starting = s.tasks.busy("start") || s.tasks.busy("new");
  const char* label = starting ? "starting" : to_string(st);
  ImVec4 colour = st == TrainState::Running ? ImVec4(0.4f, 0.9f, 0.4f, 1)
                  : st == TrainState::Error ? ImVec4(1, 0.4f, 0.4f, 1)
                                            : ImVec4(0.8f, 0.8f, 0.8f, 1);
  // While watching, the block above says where the run is; this program's own run has none.
  const bool own_run = !s.watch.active();
  if (own_run) {
    ImGui::TextColored(colour, "%s", label);
    ImGui::SameLine();
  }
  double rate = s.host.session ? s.host.session->steps_per_second() : 0;
  int64_t step = s.step();
  int64_t total = s.host.session ? s.host.session->max_steps() : s.host.max_steps;
  if (own_run) ImGui::Text("| step %lld | %.2f it/s", (long long)step, rate);
  const int64_t target = s.host.next_run_target(step);
  if (own_run && !s.host.session && target != total) {
    // A model already past the steps field: where Train will take it.
    ImGui::ProgressBar(1.0f, ImVec2(-1, 0),
                       (std::to_string(step) + " (past " + std::to_string(total) +
                        "): Train runs to " + std::to_string(target))
                           .c_str());
  } else if (own_run && total > 0) {
    double eta = rate > 0 ? double(total - step) / rate : -1;
    ImGui::ProgressBar(total ? float(double(step) / double(total)) : 0.0f, ImVec2(-1, 0),
                       (std::to_string(step) + " / " + std::to_string(total) + "   ETA " +
                        (st == TrainState::Running ? format_duration(eta) : std::string("-")))
                           .c_str());
  }

  // Controls. Space toggles pause; the trainer handles requests at step boundaries.
  float w = (ImGui::GetContentRegionAvail().x - 2 * ImGui::GetStyle().ItemSpacing.x) / 3;
  bool running = st == TrainState::Running, paused = st == TrainState::Paused;
  if (starting) ImGui::BeginDisabled();
  if (running) {
    if (ImGui::Button("Pause", ImVec2(w, 0))) s.host.pause_or_resume();
  } else if (paused) {
    if (ImGui::Button("Resume", ImVec2(w, 0))) s.host.pause_or_resume();
  } else if (ImGui::Button("Train", ImVec2(w, 0))) {
    s.host.start_training();
  }
  if (starting) ImGui::EndDisabled();
  ImGui::SameLine();
  bool can_stop = running || paused;
  if (!can_stop) ImGui::BeginDisabled();
  if (ImGui::Button("Stop", ImVec2(w, 0))) s.host.stop_training();
  if (!can_stop) ImGui::EndDisabled();
  ImGui::SameLine();
  if (ImGui::Button("Save", ImVec2(w, 0))) s.host.save();

  ImGui::PushItemWidth(ImGui::GetContentRegionAvail().x * 0.5f);
  if (ImGui::InputDouble("learning rate", &s.host.lr, 0, 0, "%.2e")) {
    s.host.lr = std::clamp(s.host.lr, 1e-7, 1.0);
    if (s.host.session && s.host.training_active()) s.host.session->set_learning_rate(s.host.lr);
  }
  if (ImGui::InputInt("batch", &s.host.batch, 10, 50))
    s.host.batch = std::clamp(s.host.batch, 1, 4096);
  help_marker("Used by new models; a resumed checkpoint keeps the batch size it was trained with.");
  {
    static const char* kPrecisions[] = {"fp32", "bf16", "auto"};
    int p = int(s.host.precision_choice);
    if (ImGui::Combo("precision", &p, kPrecisions, 3)) s.host.precision_choice = Precision(p);
    const std::string resolved = precision_name(resolve_precision(s.host.precision_choice, s.host.train_device));
    help_marker(("bf16: autocast forward passes, fp32 weights and losses (faster where the hardware has "
                 "bf16). auto: bf16 where native. Here: " + resolved + ". Applies when a run starts.")
                    .c_str());
  }
  long long ms = s.host.max_steps;
  if (ImGui::InputScalar("steps", ImGuiDataType_S64, &ms, nullptr, nullptr, "%lld"))
    s.host.max_steps = std::max<long long>(0, ms);
  help_marker("Train until this many steps in all (0: until stopped). Applies when a run starts.");
  ImGui::PopItemWidth();
  if (s.host.session) {
    ImGui::TextDisabled("checkpoint every %lld steps and on stop:",
                        (long long)s.host.checkpoint_every);
    ImGui::TextWrapped("%s", s.host.session_checkpoint.c_str());
    if (st == TrainState::Error) {
      ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1, 0.4f, 0.4f, 1));
      ImGui::TextWrapped("%s", s.host.session->error().c_str());
      ImGui::PopStyleColor();
    }
  }

  // Curves: the losses, and D's mean probabilities: on both pairs for ALI (0.5/0.5 is the game's
  // balance), of each tuple's true class for the K-way objectives (1/K is theirs).
  ImGui::Separator();
  std::vector<float> ld, lg;
  std::vector<Curve> curves;
  if (!s.host.history.empty() && s.host.history.back().metric_names)
    curves = probability_curves(*s.host.history.back().metric_names);
  std::vector<std::vector<float>> probs(curves.size());
  for (const auto& h : s.host.history) {
    ld.push_back(float(h.d_loss));
    lg.push_back(float(h.g_loss));
    for (size_t k = 0; k < curves.size(); ++k) probs[k].push_back(float(h.metric(curves[k].metric)));
  }
  static const ImU32 kPalette[] = {IM_COL32(120, 220, 120, 255), IM_COL32(230, 200, 80, 255),
                                   IM_COL32(110, 170, 250, 255), IM_COL32(240, 110, 110, 255),
                                   IM_COL32(200, 130, 240, 255), IM_COL32(90, 220, 220, 255),
                                   IM_COL32(250, 160, 60, 255),  IM_COL32(200, 200, 200, 255)};
  std::vector<const std::vector<float>*> series;
  std::vector<ImU32> colours;
  std::vector<const char*> labels;
  for (size_t k = 0; k < curves.size(); ++k) {
    series.push_back(&probs[k]);
    colours.push_back(kPalette[k % (sizeof kPalette / sizeof kPalette[0])]);
    labels.push_back(curves[k].label.c_str());
  }
  float avail = ImGui::GetContentRegionAvail().y;
  float ph = std::max(70.0f, (avail - ImGui::GetTextLineHeightWithSpacing() * 2) / 2 - 4);
  ImGui::TextDisabled("losses");
  plot_series("loss", {&ld, &lg}, {IM_COL32(240, 120, 80, 255), IM_COL32(90, 170, 250, 255)},
              {"L_D", "L_G"}, ph, 0, 1, true);
  const std::string& objective = s.config().objective;
  // K-way objectives report p_class0..K-1; semi's three curves are not per class.
  const bool per_class = !curves.empty() && curves[0].metric.rfind("p_class", 0) == 0;
  ImGui::TextDisabled("%s", per_class ? ("D's mean probability of each true class (" + objective + ")").c_str()
                                      : "D probabilities");
  if (per_class && ImGui::IsItemHovered()) {
    std::string tip;
    for (const auto& o : objective_catalog())
      if (o.name == objective) tip = o.description;
    ImGui::SetTooltip("%s", tip.c_str());
  }
  plot_series("prob", series, colours, labels, ph, 0, 1, false);
  if (s.host.history.empty()) {
    ImGui::SetCursorPosY(ImGui::GetCursorPosY() - ph * 1.5f);
    ImGui::TextDisabled("  curves appear when training runs");
  }
  ImGui::End();
}

}  // namespace ali::explorer
