#include "ali/file_io.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>

#include "ali/error.h"

namespace fs = std::filesystem;

namespace ali {

std::string read_regular_file(const fs::path& path, size_t max_bytes, const std::string& what) {
  const std::string name = path.string();
  const std::string a_what = (what.find_first_of("aeiouAEIOU") == 0 ? "an " : "a ") + what;
  // O_NONBLOCK: opening a FIFO without a writer would otherwise block forever.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) throw Error(what + " " + name + " does not exist");
    throw Error("cannot open " + what + " " + name + ": " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw Error("cannot read " + what + " " + name + ": " + std::strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw Error(name + " is a folder, not " + a_what);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(name + " is not a regular file (" +
                (S_ISFIFO(st.st_mode)  ? "a FIFO"
                 : S_ISCHR(st.st_mode) ? "a character device"
                 : S_ISBLK(st.st_mode) ? "a block device"
                                       : "a socket or other special file") +
                "), not " + a_what);
  }
  if (size_t(st.st_size) > max_bytes) {
    ::close(fd);
    throw Error(name + " is too large to be " + a_what + " (" + std::to_string(st.st_size) +
                " bytes; at most " + std::to_string(max_bytes) + ")");
  }
  std::string bytes;
  try {
    bytes.resize(size_t(st.st_size));
  } catch (const std::bad_alloc&) {
    ::close(fd);
    throw Error("not enough memory to read " + what + " " + name);
  }
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      throw Error("cannot read " + what + " " + name + ": " + std::strerror(e));
    }
    if (n == 0) break;  // shrank while being read
    got += size_t(n);
  }
  ::close(fd);
  bytes.resize(got);
  return bytes;
}

void remove_stale_temporaries(const fs::path& path) {
  std::error_code ec;
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const std::string prefix = path.filename().string() + ".tmp-";
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string f = it->path().filename().string();
    if (f.rfind(prefix, 0) != 0) continue;
    const std::string digits = f.substr(prefix.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    long pid = 0;
    try {
      pid = std::stol(digits);
    } catch (const std::exception&) {
      continue;
    }
    // ESRCH: no such process, so nobody is writing it any more.
    if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH) fs::remove(it->path(), ec);
  }
}

void remove_stale_temporaries_in(const fs::path& dir) {
  std::error_code ec;
  std::set<fs::path> targets;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string f = it->path().filename().string();
    if (auto at = f.rfind(".tmp-"); at != std::string::npos && at > 0) targets.insert(dir / f.substr(0, at));
  }
  for (const auto& t : targets) remove_stale_temporaries(t);
}

void check_output_path(const fs::path& path, const std::string& what) {
  const std::string head = "cannot write " + what + " " + path.string() + ": ";
  std::error_code ec;
  if (path.empty() || path.filename().empty()) throw Error(head + "no file name");
  if (fs::is_directory(path, ec)) throw Error(head + "it is a folder");
  fs::path dir = fs::absolute(path, ec).parent_path();
  while (!dir.empty() && !fs::exists(dir, ec)) {
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  if (!fs::is_directory(dir, ec)) throw Error(head + dir.string() + " is not a folder");
  if (::access(dir.c_str(), W_OK) != 0) throw Error(head + "folder " + dir.string() + " is not writable");
}

void write_file_atomically(const fs::path& path, const std::string& bytes,
                           const std::string& what) {
  std::error_code ec;
  if (path.has_parent_path()) {
    fs::create_directories(path.parent_path(), ec);
    if (ec) throw Error("cannot write " + what + " " + path.string() + ": " + ec.message());
  }
  remove_stale_temporaries(path);
  fs::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw Error("cannot write " + what + " " + path.string() + ": " + std::strerror(errno));
  auto fail = [&](const std::string& why) {
    if (fd >= 0) ::close(fd);
    fs::remove(tmp, ec);
    throw Error("cannot write " + what + " " + path.string() + ": " + why);
  };
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(std::strerror(errno));
    done += size_t(n);
  }
  if (::fsync(fd) != 0) fail(std::strerror(errno));
  int closed = ::close(fd);
  fd = -1;
  if (closed != 0) fail(std::strerror(errno));
  fs::rename(tmp, path, ec);  // atomic: readers see the old file or the new one
  if (ec) fail(ec.message());
}

}  // namespace ali

namespace ali {

FolderLock::FolderLock(const fs::path& dir) : dir_(dir) {
  std::error_code ec;
  created_ = !fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create the run folder " + dir.string() + ": " + ec.message());
  const fs::path path = dir / ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Error("cannot lock the run folder " + dir.string() + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
    std::string owner = n > 0 ? std::string(pid, size_t(n)) : std::string("?");
    while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' ')) owner.pop_back();
    ::close(fd_);
    fd_ = -1;
    throw Error("the run folder " + dir.string() + " is in use by process " + owner +
                " (another training run); wait for it or use another folder");
  }
  std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) != ssize_t(me.size())) {
    // The lock holds without the note; only the message naming the owner would lack it.
  }
}

FolderLock::~FolderLock() {
  if (fd_ < 0) return;
  std::error_code ec;
  if (created_) {  // still ours: remove the lock and the folder if nothing else is in it
    bool only_lock = true;
    for (const auto& e : fs::directory_iterator(dir_, ec))
      if (e.path().filename() != ".lock") {
        only_lock = false;
        break;
      }
    if (only_lock && !ec) {
      fs::remove(dir_ / ".lock", ec);
      fs::remove(dir_, ec);  // fails harmlessly if a file appeared meanwhile
    }
  }
  ::close(fd_);
}

std::string lower_extension(const fs::path& path) {
  std::string e = path.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return e;
}

}  // namespace ali
