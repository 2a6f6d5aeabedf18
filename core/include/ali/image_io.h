// Image files in and out: decoding (stb_image), bringing an image to a preset's size and channels
// (resize the shorter side, centre crop), PNG grids and animated GIFs.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

namespace ali {

// Decodes a PNG/JPEG/BMP/GIF/... file to uint8 H x W x C (C = 1 or 3). Throws ali::Error naming the
// file and the reason for a missing, unreadable, non-regular (FIFO, device) or non-image file, a
// truncated JPEG, and an image beyond 64 Mpixels, 32768 pixels a side or an aspect of 64:1.
torch::Tensor decode_image_file(const std::filesystem::path& path);
torch::Tensor decode_image_memory(const void* data, size_t size, const std::string& name);

// uint8 H x W x C -> uint8 C x size x size: resize so the shorter side is `size` (keeping aspect),
// centre crop, convert to `channels` (grey by luma, or grey replicated to RGB).
torch::Tensor conform_image(const torch::Tensor& hwc, int size, int channels);

// A file straight to float C x size x size in [0,1], as the data loader prepares images.
torch::Tensor load_image(const std::filesystem::path& path, int size, int channels);

// Float B x C x H x W in [0,1] -> one C x H' x W' image, `cols` per row, `pad` pixels of `pad_value`.
torch::Tensor make_grid(const torch::Tensor& images, int cols, int pad = 2, float pad_value = 1.0f);
// Float C x H x W in [0,1] -> uint8 H x W x C (contiguous), for files and textures.
torch::Tensor to_hwc_u8(const torch::Tensor& chw);
// Nearest-neighbour upscaling by an integer factor (small images in files people look at).
torch::Tensor upscale(const torch::Tensor& chw, int factor);

// The image files an output takes, by its name's extension (any case).
enum class ImageFiles {
  Png,          // .png
  Still,        // .png, .jpg, .jpeg
  StillOrGif,   // those, or .gif (an animation)
};
// Checks an output's name before any work: an extension `files` takes, and a folder that is there or
// can be made (check_output_path). Throws ali::Error saying what to name it.
void check_image_output(const std::filesystem::path& path, ImageFiles files);

// Writes are checked (a full disk is an error, never an empty file) and atomic. A name the writer does
// not take is refused, as is a picture larger than its format holds (JPEG and GIF: 65,535 pixels a
// side).
void save_png(const std::filesystem::path& path, const torch::Tensor& chw);
// PNG or JPEG as the name says (.png, .jpg, .jpeg).
void save_image(const std::filesystem::path& path, const torch::Tensor& chw);
// Frames: float C x H x W in [0,1], same shape. delay in 1/100 s (1..65535); loops forever.
void save_gif(const std::filesystem::path& path, const std::vector<torch::Tensor>& frames,
              int delay_cs = 8);

// True when the path's extension is one the image readers accept.
bool has_image_extension(const std::filesystem::path& path);

}  // namespace ali
