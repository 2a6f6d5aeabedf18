// ali-explorer: the desktop latent-space explorer. Thin: options, the window, the panels, the loop.
#include <GLFW/glfw3.h>
#include <epoxy/gl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include "ali/device.h"
#include "ali/text.h"
#include "ali/tsne.h"
#include "app_state.h"
#include "gl_image.h"
#include "options.h"
#include "panels/panels.h"
#include "state_util.h"
#include "window.h"

using namespace ali::explorer;
namespace fs = std::filesystem;

namespace {

// SIGTERM/SIGHUP (a logout, `kill`, a closed terminal) end the loop like closing the window does,
// so the training run is stopped and saved and the session persisted.
std::atomic<int> quit_signal{0};
extern "C" void on_quit_signal(int sig) { quit_signal = sig; }

void shortcuts(AppState& s) {
  ImGuiIO& io = ImGui::GetIO();
  if (io.WantTextInput) return;
  if (ImGui::IsKeyPressed(GLFW_KEY_SPACE, false) && !io.KeyCtrl) s.host.pause_or_resume();
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_O, false)) s.open_popup = true;
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_S, false)) s.host.save();
}

void menu_bar(AppState& s, bool& quit) {
  if (!ImGui::BeginMainMenuBar()) return;
  if (ImGui::BeginMenu("File")) {
    if (ImGui::MenuItem("Open checkpoint...", "Ctrl+O")) s.open_popup = true;
    if (ImGui::MenuItem("Browse for a model...")) s.browse(ali::explorer::BrowsePurpose::OpenModel);
    if (ImGui::MenuItem("Add images...")) s.browse(ali::explorer::BrowsePurpose::AddImages);
    if (ImGui::MenuItem("Watch run...")) s.browse(ali::explorer::BrowsePurpose::WatchRun);
    if (s.watch.active() && ImGui::MenuItem("Stop watching")) s.watch.stop();
    if (!s.settings.recent_images.empty() && ImGui::BeginMenu("Recent images")) {
      for (const auto& r : s.settings.recent_images)
        if (ImGui::MenuItem(r.c_str())) s.drops.handle({r});
      ImGui::EndMenu();
    }
    if (ImGui::MenuItem("Save", "Ctrl+S")) s.host.save();
    ImGui::Separator();
    if (ImGui::MenuItem("Save output image")) s.explore.save_capture();
    if (ImGui::MenuItem("Screenshot of the window")) s.want_screenshot = true;
    ImGui::Separator();
    if (ImGui::MenuItem("Quit")) quit = true;
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Train")) {
    if (ImGui::MenuItem("Train / pause / resume", "Space")) s.host.pause_or_resume();
    if (ImGui::MenuItem("Stop")) s.host.stop_training();
    ImGui::EndMenu();
  }
  ImGui::TextDisabled("  ALI Explorer - Adversarially Learned Inference");
  ImGui::EndMainMenuBar();
}

void write_screenshot(AppState& s, const ali::PixelBuffer& pixels, const std::string& path,
                      bool wait) {
  s.tasks.run("screenshot", [pixels, path]() -> Apply {
    std::string abs = write_png(path, from_pixels(pixels), 1);
    return [abs](AppState& st) { st.info("wrote screenshot " + abs); };
  });
  if (wait) {
    s.tasks.wait_all();
    s.tasks.poll(s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (int rc = parse_options(argc, argv, opt); rc >= 0) return rc;
  try {
    ali::configure_threads(1);  // leave a core for the window and image decoding
  } catch (const std::exception& e) {
    std::cerr << "ali-explorer: " << ali::describe_exception(e) << "\n";
    return 2;
  }
  // Mesa's software rasterizer (llvmpipe, e.g. under Xvfb or without a GPU) spreads each frame over
  // threads on every core; on a 2-core machine they fight the trainer (measured: training 1.9x
  // slower, p95 frame 87-440 ms). One rasterizer thread keeps frames steady. GPU drivers ignore the
  // variable.
  if (std::thread::hardware_concurrency() <= 2) setenv("LP_NUM_THREADS", "1", 0);

  auto state = std::make_unique<AppState>(opt);
  AppState& s = *state;
  int w = opt.width ? opt.width : s.settings.window_w;
  int h = opt.height ? opt.height : s.settings.window_h;
  std::unique_ptr<Window> window;
  std::unique_ptr<Gpu> gpu;  // GL objects: made after the window, gone before it
  try {
    std::error_code ec;
    fs::create_directories(opt.config_dir, ec);
    window = std::make_unique<Window>(w, h, "ALI Explorer", s.settings.ini_path().string(),
                                      !opt.scripted());
    gpu = std::make_unique<Gpu>();
    gpu->renderer.init();
    set_current_gpu(gpu.get());
  } catch (const std::exception& e) {
    std::cerr
        << "ali-explorer: cannot open a window: " << ali::describe_exception(e) << "\n"
        << "ali-explorer needs a graphical display (X11 or Wayland) with OpenGL 3.3.\n"
        << "Without one, use the command line: `ali train`, `ali sample`, `ali reconstruct`,\n"
        << "`ali encode`, `ali interpolate`, `ali info` (see `ali --help`), or run the explorer\n"
        << "under a virtual display: xvfb-run -a ali-explorer ...\n";
    return 2;
  }

  // The model: --model, else (unless --objective asks for a new one) the shipped asset, else a
  // fresh fmnist28 ready to train.
  std::string model = opt.model;
  const bool watching = !opt.watch.empty() && opt.model.empty() && s.watch.watch(opt.watch);
  if (model.empty() && !opt.has_objective) model = find_default_model(opt.executable_dir).string();
  if (!watching) {  // when watching, the run's checkpoint is the model (and until it lands, none)
    if (!model.empty())
      s.host.open(model);
    else
      s.host.create("fmnist28");
  }
  if (!opt.watch.empty() && !opt.model.empty()) s.watch.watch(opt.watch);  // replaces --model when it lands
  if (opt.train) s.host.start_after_load = true;  // starts once loading is done
  for (const auto& d : opt.drops) s.pending_drops.push_back(d);

  ModelPanel model_panel;
  TrainPanel train_panel;
  LiveViewPanel live_panel;
  EncodePanel encode_panel;
  AttributesPanel attributes_panel;
  ShelfPanel shelf_panel;
  ExplorePanel explore_panel;
  StatusBar status_bar;
  OpenDialog open_dialog;
  FileDialog file_dialog;

  using clock = std::chrono::steady_clock;
  const auto started = clock::now();
  auto last_frame = started;
  double last_input = -1;
  int frame = 0, settled_frames = 0;
  // Training throughput in the window (bench/explorer_frames.sh compares it with the CLI's): from the
  // first step seen to the last.
  int64_t rate_s0 = -1, rate_s1 = -1;
  clock::time_point rate_t0, rate_t1;
  bool quit = false, timed_out = false;
  std::signal(SIGTERM, on_quit_signal);
  std::signal(SIGHUP, on_quit_signal);
  while (!quit && !window->should_close() && !quit_signal) {
    // At most ~30 frames a second while something changes, and 20 when idle: the rest of the CPU is
    // the trainer's. Input events end the wait at once.
    // While only training changes the picture (snapshots come 4 times a second), 15 frames suffice.
    bool busy = s.tasks.busy() || s.worker.busy();
    bool training = s.host.session && s.host.training_active();
    bool interacting = ImGui::GetIO().MouseDown[0] || s.now() - last_input < 0.5;
    double spent = std::chrono::duration<double>(clock::now() - last_frame).count();
    double budget = interacting ? 1.0 / 30 : training ? 1.0 / 15 : busy ? 1.0 / 30 : 1.0 / 20;
    if (spent < budget)
      window->poll(budget - spent);
    else
      window->poll(0);
    auto t_frame = clock::now();
    last_frame = t_frame;
    if (window->had_input()) last_input = s.now();
    for (auto& d : window->take_drops()) s.pending_drops.push_back(d);
    if (s.host.start_after_load && s.has_model() && !s.tasks.busy()) {
      s.host.start_after_load = false;
      s.host.start_training();
    }
    s.update();
    if (s.host.session && s.host.trained_steps() > 0) {
      const int64_t st = s.host.step();
      if (rate_s0 < 0) rate_s0 = st, rate_t0 = clock::now();
      if (st != rate_s1) rate_s1 = st, rate_t1 = clock::now();
    }

    window->begin_frame();
    shortcuts(s);
    menu_bar(s, quit);
    model_panel.draw(s);
    train_panel.draw(s);
    live_panel.draw(s);
    encode_panel.draw(s);
    attributes_panel.draw(s);
    shelf_panel.draw(s);
    explore_panel.draw(s);
    status_bar.draw(s);
    open_dialog.draw(s);
    file_dialog.draw(s);
    window->end_frame();

    bool last = false;
    if (opt.scripted()) {
      ++frame;
      double elapsed = std::chrono::duration<double>(clock::now() - started).count();
      bool training = s.host.session && s.host.session->state() == ali::TrainState::Running;
      // --sweep-out: the sweep's PNG is written (a task) once its render arrives; wait for both.
      bool loading = s.tasks.busy() || !s.pending_drops.empty() ||
                     (s.host.start_after_load && s.has_model()) ||
                     (s.has_model() && !s.attributes.sweep_out_pending.empty());
      // A run that ended (diverged, completed) or a model that failed to load will not add steps.
      bool steps_done = opt.min_steps <= 0 || s.host.trained_steps() >= opt.min_steps ||
                        (!loading && !training && !s.watch.active() &&
                         !(s.host.session && s.host.session->state() == ali::TrainState::Paused));
      if (s.watch.active() && opt.min_steps > 0) steps_done = s.watch.checkpoint_step() >= opt.min_steps;
      // Settled: loading and dropped files handled, and (unless training keeps it busy) inference
      // done, a snapshot's deferred re-render included.
      bool settled = !loading && (training || (!s.worker.busy() && !s.views.deferred() && !s.drops.refining()));
      settled_frames = settled ? settled_frames + 1 : 0;
      if (frame >= opt.frames && steps_done && settled_frames >= 3) last = true;
      if (elapsed > opt.timeout_s) {
        timed_out = true;
        last = true;
      }
      if (last && !opt.screenshot.empty())
        write_screenshot(s, window->read_pixels(), opt.screenshot, true);
    } else if (s.want_screenshot) {
      s.want_screenshot = false;
      fs::path p = fs::path(s.settings.capture_dir) /
                   ("window-" + std::to_string(std::time(nullptr)) + ".png");
      write_screenshot(s, window->read_pixels(), p.string(), false);
    }
    window->swap();
    gpu->end_frame();
    s.frames.add(std::chrono::duration<double, std::milli>(clock::now() - t_frame).count());
    if (last) break;
  }

  if (quit_signal)
    std::cerr << "ali-explorer: " << (quit_signal == SIGTERM ? "SIGTERM" : "SIGHUP")
              << ": saving and closing" << std::endl;
  if (timed_out)
    std::cerr << "ali-explorer: error: scripted run timed out after " << opt.timeout_s << " s\n";
  window->size(s.settings.window_w, s.settings.window_h);
  if (opt.scripted() || s.host.session)
    std::cout << "final step: " << s.step() << " (trained " << s.host.trained_steps()
              << " steps in this run)" << std::endl;
  if (opt.print_frame_stats && rate_s1 > rate_s0) {
    std::vector<double> step_ms;
    for (const auto& h : s.host.history)
      if (h.step > rate_s0) step_ms.push_back(h.seconds * 1000);
    std::nth_element(step_ms.begin(), step_ms.begin() + step_ms.size() / 2, step_ms.end());
    const double secs = std::chrono::duration<double>(rate_t1 - rate_t0).count();
    std::cout << "training in the window: " << double(rate_s1 - rate_s0) / secs << " it/s over "
              << rate_s1 - rate_s0 << " steps, median step "
              << (step_ms.empty() ? 0.0 : step_ms[step_ms.size() / 2]) << " ms" << std::endl;
  }
  if (opt.scripted()) {  // for tests: what the window holds at the end
    std::cout << "dropped: " << s.drops.size() << " (" << s.drops.reconstructed()
              << " reconstructed)\n"
              << "shelf: " << s.shelf.size() << std::endl;
    for (const auto& d : s.drops.images())
      std::cout << "drop " << d.name << ": framing " << (d.framing.empty() ? "-" : d.framing)
                << (d.inverted ? ", inverted" : "") << (d.conform.crop ? ", cropped by hand" : "")
                << (d.warning.empty() ? "" : ", warning: " + d.warning) << "\n";
    for (const auto& d : s.drops.images()) {
      if (d.attributes.empty() || !s.has_model()) continue;
      auto on = attributes_on(s.config(), code_tensor(d.attributes));
      std::cout << "drop " << d.name << ": reads " << (on.empty() ? "none" : ali::joined(on)) << "\n";
    }
    if (s.drops.refine_requests()) {
      std::cout << "refined: " << s.drops.refined() << " of " << s.drops.refine_requests();
      for (const auto& d : s.drops.images())
        if (d.refine_mse.size() >= 2)
          std::cout << " | " << d.name << " " << d.refine_done << " steps, pixel MSE "
                    << d.refine_mse.front() << " -> " << d.refine_mse.back();
      std::cout << std::endl;
    }
    if (s.drops.inpainted_requests()) {
      std::cout << "inpainted: " << s.drops.inpainted() << " of " << s.drops.inpainted_requests();
      for (const auto& d : s.drops.images())
        if (d.hole && !d.filled.empty() && d.filled_refine > 0)
          std::cout << " | " << d.name << " fill refined " << d.filled_refine << " steps";
      std::cout << std::endl;
    }
    if (s.has_model()) std::cout << "objective: " << s.config().objective << std::endl;
    if (s.map.points.defined()) {
      const ali::explorer::LatentMap& m = s.map;
      bool tsne = m.layout() == ali::explorer::MapLayout::Tsne && m.tsne_points.defined() &&
                  m.points.equal(m.tsne_points);
      std::cout << "map: " << m.points.size(0) << " codes, " << (tsne ? "t-SNE" : "PCA") << " layout";
      if (m.labels.size() == size_t(m.points.size(0))) {
        auto labels = torch::tensor(m.labels);
        std::cout << ", 5 nearest neighbours mostly of the same "
                  << (m.colour_attribute >= 0 ? m.attribute_names[size_t(m.colour_attribute)] + " value" : "class")
                  << " for "
                  << ali::neighbour_agreement(m.points, labels) << " of the codes (in the codes: "
                  << ali::neighbour_agreement(m.codes, labels) << ")";
      }
      std::cout << std::endl;
    }
    if (s.watch.active()) std::cout << "watch: " << s.watch.status() << std::endl;
    if (s.has_model() && s.config().conditional())
      std::cout << "attributes: " << s.attributes.summary() << std::endl;
  }
  if (opt.print_frame_stats) {
    s.frames.recompute();
    std::cout << "frame ms: p50 " << s.frames.p50() << " p95 " << s.frames.p95() << " max "
              << s.frames.max() << " over " << s.frames.count() << " frames ("
              << window->gl_renderer() << ")" << std::endl;
    std::cout << s.views.stats() << std::flush;
  }
  s.persist();
  ImGui::SaveIniSettingsToDisk(s.settings.ini_path().string().c_str());
  set_current_gpu(nullptr);
  gpu->renderer.shutdown();
  gpu.reset();
  state.reset();  // stops training (saving its checkpoint) before the window goes
  window.reset();
  return timed_out ? 1 : 0;
}
