// The GLFW window with an OpenGL 3.3 core context (through libepoxy) and Dear ImGui on top.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "ali/inference_worker.h"

struct GLFWwindow;

namespace ali::explorer {

class Window {
 public:
  // Throws ali::Error when there is no display or no OpenGL 3.3.
  Window(int width, int height, const std::string& title, const std::string& ini_path, bool vsync);
  ~Window();
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  bool should_close() const;
  // Polls events; waits up to `wait_s` for one when > 0 (saves the CPU for training when idle).
  void poll(double wait_s);
  void begin_frame();
  void end_frame();  // renders ImGui (does not swap)
  void swap();
  // The back buffer's pixels (RGB, top row first), after end_frame.
  PixelBuffer read_pixels() const;
  // Files dropped since the last call.
  std::vector<std::string> take_drops();
  void size(int& w, int& h) const;
  std::string gl_renderer() const;
  // True when a key, button, scroll or cursor event came since the last call.
  bool had_input();

 private:
  GLFWwindow* window_ = nullptr;
  std::string ini_path_;
  std::vector<std::string> drops_;
  double last_cursor_x_ = -1, last_cursor_y_ = -1;
  static void on_drop(GLFWwindow* w, int count, const char** paths);
};

// Why no window could be opened, for the message that points to the CLI.
std::string display_problem();

}  // namespace ali::explorer
