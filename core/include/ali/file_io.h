// Reading untrusted files and writing results without silent losses.
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>

namespace ali {

// The whole of a regular file, refusing with ali::Error naming `what` and the path: a missing file,
// a folder, a FIFO or device (which would block or never end), a file over `max_bytes`, a read
// error. A FIFO is never opened for reading in blocking mode, so it cannot hang the caller.
std::string read_regular_file(const std::filesystem::path& path, size_t max_bytes,
                              const std::string& what);

// Writes `bytes` to `path` atomically: a temporary file beside it (written, flushed to disk,
// closed, every step checked), then renamed over it, so a reader sees the old file or the new one
// and a full disk is an error, never an empty "written" file. Temporaries left by a killed writer
// (whose process no longer exists) are removed first. Throws ali::Error naming `what` and the path.
void write_file_atomically(const std::filesystem::path& path, const std::string& bytes,
                           const std::string& what);

// Checks, before any work, that `path` can be written as write_file_atomically writes it: not a
// folder, and its folder either there or creatable (the nearest existing ancestor a writable folder).
// Throws ali::Error naming `what` and the path.
void check_output_path(const std::filesystem::path& path, const std::string& what);

// The file name's extension in lower case, with its dot (".png" for "A.PNG"; empty for none).
std::string lower_extension(const std::filesystem::path& path);

// Removes `path`.tmp-PID files whose writer process is gone.
void remove_stale_temporaries(const std::filesystem::path& path);
// The same for every file in `dir` (a folder whose writers may have been killed mid-write, such as a
// run folder: a past step's sample grid is never written again, so its temporary would stay).
void remove_stale_temporaries_in(const std::filesystem::path& dir);

}  // namespace ali

namespace ali {

// An exclusive lock on a run folder (its file `.lock`, holding the owner's process id), held while
// the object lives; the kernel drops it when the process dies, however it dies. Throws ali::Error
// naming the folder and the process that holds it. A folder the lock created and in which nothing
// else was written (a run refused before its first file) is removed again with the lock.
class FolderLock {
 public:
  explicit FolderLock(const std::filesystem::path& dir);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
  std::filesystem::path dir_;
  bool created_ = false;  // the folder did not exist before
};

}  // namespace ali
