#include "ali/image_io.h"

#include <gif_lib.h>
#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>

#include "ali/error.h"
#include "ali/file_io.h"

namespace fs = std::filesystem;

namespace ali {

namespace {

// Decoded pixels cost w x h x 3 bytes, whatever the file's size: a 4 KB PNG can claim 1 x
// 2,000,000.
constexpr int64_t kMaxImagePixels = int64_t(64) << 20;  // 64 Mpixels: 8192 x 8192, 192 MB as RGB
constexpr int kMaxImageSide = 32768;
constexpr int kMaxAspect =
    64;  // conforming crops a centre square: beyond this nothing useful is left
constexpr size_t kMaxImageFileBytes = size_t(256) << 20;

void check_dimensions(int64_t w, int64_t h, const std::string& name) {
  const std::string dims = std::to_string(w) + "x" + std::to_string(h);
  if (w <= 0 || h <= 0) throw Error(name + " has no pixels (" + dims + ")");
  if (w > kMaxImageSide || h > kMaxImageSide || w * h > kMaxImagePixels)
    throw Error(name + " is too large (" + dims + " pixels; at most " +
                std::to_string(kMaxImagePixels >> 20) + " Mpixels and " +
                std::to_string(kMaxImageSide) + " per side)");
  if (std::max(w, h) > kMaxAspect * std::min(w, h))
    throw Error(name + " is too elongated (" + dims + " pixels; at most " +
                std::to_string(kMaxAspect) + ":1)");
}

// stb_image refuses a PNG beyond its own size limit as "unknown image type"; read the dimensions
// from the header so the message says what is wrong.
bool png_dimensions(const unsigned char* d, size_t n, int64_t& w, int64_t& h) {
  if (n < 24 || std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) != 0 || std::memcmp(d + 12, "IHDR", 4) != 0)
    return false;
  auto be32 = [&](size_t at) {
    return int64_t((uint32_t(d[at]) << 24) | (uint32_t(d[at + 1]) << 16) |
                   (uint32_t(d[at + 2]) << 8) | d[at + 3]);
  };
  w = be32(16);
  h = be32(20);
  return true;
}

// stb_image decodes a truncated JPEG without complaint, the missing part grey. A complete one ends
// with the end-of-image marker (FF D9), at most followed by a little padding.
void check_jpeg_complete(const unsigned char* d, size_t n, const std::string& name) {
  if (n < 4 || d[0] != 0xFF || d[1] != 0xD8 || d[2] != 0xFF) return;
  const size_t window = std::min<size_t>(n - 2, 4096);
  for (size_t i = n - 1; i >= n - window; --i)
    if (d[i - 1] == 0xFF && d[i] == 0xD9) return;
  throw Error(name + " is a truncated JPEG (it has no end-of-image marker)");
}

torch::Tensor decode_with_stb(const unsigned char* data, int size, const std::string& name) {
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, size, &w, &h, &comp)) {
    int64_t pw = 0, ph = 0;
    if (png_dimensions(data, size_t(size), pw, ph)) check_dimensions(pw, ph, name);
    throw Error(name + " is not an image I can read (" + stbi_failure_reason() + ")");
  }
  check_dimensions(w, h, name);
  check_jpeg_complete(data, size_t(size), name);
  int want = comp <= 2 ? 1 : 3;  // drop alpha
  unsigned char* pixels = stbi_load_from_memory(data, size, &w, &h, &comp, want);
  if (!pixels) throw Error(name + " could not be decoded (" + stbi_failure_reason() + ")");
  try {
    auto t = torch::from_blob(pixels, {h, w, want}, torch::kUInt8).clone();
    stbi_image_free(pixels);
    return t;
  } catch (const std::exception&) {  // an allocation failure is an error, not terminate
    stbi_image_free(pixels);
    throw Error("not enough memory to decode " + name + " (" + std::to_string(w) + "x" +
                std::to_string(h) + " pixels)");
  }
}
}  // namespace

torch::Tensor decode_image_memory(const void* data, size_t size, const std::string& name) {
  if (size == 0) throw Error(name + " is empty");
  if (size > kMaxImageFileBytes) throw Error(name + " is too large to be an image");
  return decode_with_stb(static_cast<const unsigned char*>(data), int(size), name);
}

torch::Tensor decode_image_file(const fs::path& path) {
  std::string bytes = read_regular_file(path, kMaxImageFileBytes, "image");
  return decode_image_memory(bytes.data(), bytes.size(), path.string());
}

torch::Tensor conform_image(const torch::Tensor& hwc_in, int size, int channels) {
  TORCH_CHECK(hwc_in.dim() == 3 && hwc_in.scalar_type() == torch::kUInt8, "expected uint8 HxWxC");
  auto hwc = hwc_in.contiguous();
  int h = int(hwc.size(0)), w = int(hwc.size(1)), c = int(hwc.size(2));
  // Shorter side to `size`, keeping aspect; then centre crop.
  int rw = w <= h ? size : std::max(size, int(std::lround(double(w) * size / h)));
  int rh = w <= h ? std::max(size, int(std::lround(double(h) * size / w))) : size;
  torch::Tensor resized = hwc;
  if (rw != w || rh != h) {
    resized = torch::empty({rh, rw, c}, torch::kUInt8);
    if (!stbir_resize_uint8(hwc.data_ptr<uint8_t>(), w, h, 0, resized.data_ptr<uint8_t>(), rw, rh,
                            0, c))
      throw Error("image resize failed");
  }
  int y0 = (rh - size) / 2, x0 = (rw - size) / 2;
  auto crop = resized.narrow(0, y0, size).narrow(1, x0, size);
  if (c == channels) return crop.permute({2, 0, 1}).contiguous();
  if (channels == 3) return crop.permute({2, 0, 1}).expand({3, size, size}).contiguous();
  auto f = crop.to(torch::kFloat);
  auto grey = f.select(2, 0) * 0.299 + f.select(2, 1) * 0.587 + f.select(2, 2) * 0.114;
  return grey.round().clamp(0, 255).to(torch::kUInt8).unsqueeze(0).contiguous();
}

torch::Tensor load_image(const fs::path& path, int size, int channels) {
  return conform_image(decode_image_file(path), size, channels).to(torch::kFloat).div_(255.0);
}

torch::Tensor make_grid(const torch::Tensor& images, int cols, int pad, float pad_value) {
  TORCH_CHECK(images.dim() == 4, "make_grid takes B x C x H x W");
  int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  cols = int(std::max<int64_t>(1, std::min<int64_t>(cols, n)));
  int64_t rows = (n + cols - 1) / cols;
  auto grid = torch::full({c, rows * (h + pad) + pad, cols * (w + pad) + pad}, pad_value);
  auto src = images.detach().to(torch::kCPU, torch::kFloat);
  for (int64_t i = 0; i < n; ++i) {
    int64_t r = i / cols, q = i % cols;
    grid.narrow(1, pad + r * (h + pad), h).narrow(2, pad + q * (w + pad), w).copy_(src[i]);
  }
  return grid;
}

torch::Tensor to_hwc_u8(const torch::Tensor& chw) {
  TORCH_CHECK(chw.dim() == 3, "expected C x H x W");
  return chw.detach()
      .to(torch::kCPU, torch::kFloat)
      .clamp(0, 1)
      .mul(255)
      .round()
      .to(torch::kUInt8)
      .permute({1, 2, 0})
      .contiguous();
}

torch::Tensor upscale(const torch::Tensor& chw, int factor) {
  if (factor <= 1) return chw;
  return chw.repeat_interleave(factor, 1).repeat_interleave(factor, 2);
}

namespace {
void append_bytes(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size_t(size));
}

// JPEG and GIF store each side in 16 bits.
constexpr int64_t kMaxSide16 = 65535;
void check_side(const fs::path& path, int64_t h, int64_t w, const char* format) {
  if (h > kMaxSide16 || w > kMaxSide16)
    throw Error("cannot write " + path.string() + ": " + format + " holds at most 65,535 pixels a side, this is " +
                std::to_string(w) + "x" + std::to_string(h) + " (name it .png, or fewer images a row or column)");
}

const char* files_text(ImageFiles files) {
  switch (files) {
    case ImageFiles::Png:
      return ".png";
    case ImageFiles::Still:
      return ".png or .jpg";
    case ImageFiles::StillOrGif:
      return ".png, .jpg or .gif";
  }
  return "";
}

bool takes(ImageFiles files, const std::string& e) {
  if (e == ".png") return true;
  if (e == ".jpg" || e == ".jpeg") return files != ImageFiles::Png;
  return e == ".gif" && files == ImageFiles::StillOrGif;
}

void check_name(const fs::path& path, ImageFiles files) {
  if (!takes(files, lower_extension(path)))
    throw Error("cannot write " + path.string() + ": name it " + files_text(files));
}

// Encoded in memory, then written with every write checked: stb's file writer ignores write errors.
void save_encoded(const fs::path& path, const torch::Tensor& chw, bool jpeg) {
  TORCH_CHECK(chw.dim() == 3, "expected C x H x W");
  if (jpeg) check_side(path, chw.size(1), chw.size(2), "JPEG");
  auto hwc = to_hwc_u8(chw);
  int h = int(hwc.size(0)), w = int(hwc.size(1)), c = int(hwc.size(2));
  std::string bytes;
  int ok =
      jpeg ? stbi_write_jpg_to_func(append_bytes, &bytes, w, h, c, hwc.data_ptr<uint8_t>(), 95)
           : stbi_write_png_to_func(append_bytes, &bytes, w, h, c, hwc.data_ptr<uint8_t>(), w * c);
  if (!ok) throw Error("cannot encode " + path.string());
  write_file_atomically(path, bytes, "image");
}
}  // namespace

void check_image_output(const fs::path& path, ImageFiles files) {
  check_name(path, files);
  check_output_path(path, "image");
}

void save_png(const fs::path& path, const torch::Tensor& chw) {
  check_name(path, ImageFiles::Png);
  save_encoded(path, chw, false);
}

void save_image(const fs::path& path, const torch::Tensor& chw) {
  check_name(path, ImageFiles::Still);
  save_encoded(path, chw, lower_extension(path) != ".png");
}

void save_gif(const fs::path& path, const std::vector<torch::Tensor>& frames, int delay_cs) {
  if (frames.empty()) throw Error("no frames to write to " + path.string());
  if (lower_extension(path) != ".gif") throw Error("cannot write " + path.string() + ": name it .gif");
  if (delay_cs < 1 || delay_cs > 65535)
    throw Error("cannot write " + path.string() + ": a frame's delay is 1 to 65535 hundredths of a second");
  TORCH_CHECK(frames[0].dim() == 3, "expected C x H x W frames");
  check_side(path, frames[0].size(1), frames[0].size(2), "GIF");
  int err = 0;
  std::string bytes;  // encoded in memory, written with every write checked
  GifFileType* gif = EGifOpen(
      &bytes,
      [](GifFileType* g, const GifByteType* data, int n) {
        static_cast<std::string*>(g->UserData)
            ->append(reinterpret_cast<const char*>(data), size_t(n));
        return n;
      },
      &err);
  if (!gif) throw Error("cannot write " + path.string() + " (" + GifErrorString(err) + ")");
  auto fail = [&](const char* what) {
    EGifCloseFile(gif, &err);
    throw Error("writing " + path.string() + " failed at " + what);
  };
  auto first = to_hwc_u8(frames[0]);
  int h = int(first.size(0)), w = int(first.size(1));
  EGifSetGifVersion(gif, true);
  if (EGifPutScreenDesc(gif, w, h, 8, 0, nullptr) == GIF_ERROR) fail("screen");
  // NETSCAPE2.0 application extension: loop forever.
  unsigned char loop[3] = {1, 0, 0};
  if (EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_ERROR ||
      EGifPutExtensionBlock(gif, 11, "NETSCAPE2.0") == GIF_ERROR ||
      EGifPutExtensionBlock(gif, 3, loop) == GIF_ERROR || EGifPutExtensionTrailer(gif) == GIF_ERROR)
    fail("loop extension");
  std::vector<GifByteType> index(size_t(w) * h), r(index.size()), g(index.size()), b(index.size());
  for (const auto& frame : frames) {
    auto hwc = to_hwc_u8(frame);
    if (hwc.size(0) != h || hwc.size(1) != w) fail("a frame of another size");
    int c = int(hwc.size(2));
    const uint8_t* p = hwc.data_ptr<uint8_t>();
    ColorMapObject* cmap = GifMakeMapObject(256, nullptr);
    if (c == 1) {
      for (int i = 0; i < 256; ++i) cmap->Colors[i] = {GifByteType(i), GifByteType(i), GifByteType(i)};
      std::copy(p, p + index.size(), index.begin());
    } else {
      for (size_t i = 0; i < index.size(); ++i) {
        r[i] = p[3 * i];
        g[i] = p[3 * i + 1];
        b[i] = p[3 * i + 2];
      }
      int colours = 256;
      if (GifQuantizeBuffer(w, h, &colours, r.data(), g.data(), b.data(), index.data(),
                            cmap->Colors) == GIF_ERROR) {
        GifFreeMapObject(cmap);
        fail("colour quantisation");
      }
    }
    GraphicsControlBlock gcb{DISPOSAL_UNSPECIFIED, false, delay_cs, NO_TRANSPARENT_COLOR};
    GifByteType ext[4];
    EGifGCBToExtension(&gcb, ext);
    bool ok = EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, ext) != GIF_ERROR &&
              EGifPutImageDesc(gif, 0, 0, w, h, false, cmap) != GIF_ERROR;
    for (int y = 0; ok && y < h; ++y) ok = EGifPutLine(gif, index.data() + size_t(y) * w, w) != GIF_ERROR;
    GifFreeMapObject(cmap);
    if (!ok) fail("a frame");
  }
  if (EGifCloseFile(gif, &err) == GIF_ERROR)
    throw Error("cannot finish " + path.string() + " (" + GifErrorString(err) + ")");
  write_file_atomically(path, bytes, "animation");
}

bool has_image_extension(const fs::path& path) {
  const std::string e = lower_extension(path);
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp" || e == ".gif" || e == ".tga" ||
         e == ".pgm" || e == ".ppm" || e == ".pnm";
}

}  // namespace ali
