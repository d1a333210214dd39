#include "fs/mount.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "fs/control.h"
#include "fs/fuse_ops.h"
#include "fs/log.h"

extern char** environ;

namespace kloset::fs {

namespace {

std::string Canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf)) return buf;
  return path;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out.push_back(static_cast<char>(std::strtol(s.substr(i + 1, 3).c_str(), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Answers `klosetfs commit` and `klosetfs umount` (fs/control.h).
nlohmann::json HandleControl(KlosetFs* kfs, const nlohmann::json& req) {
  std::string op = req.value("op", "");
  if (op == "status") {
    return {{"ok", true}, {"pid", getpid()}, {"dirty", kfs->ingest()->Dirty()}};
  }
  if (op == "commit") {
    CommitRequest c;
    if (req.contains("tags") && req["tags"].is_array())
      for (auto& t : req["tags"])
        if (t.is_string()) c.tags.push_back(t.get<std::string>());
    c.message = req.value("message", "");
    CommitResult r;
    Status s = kfs->ingest()->Commit(c, &r);
    if (!s.ok())
      return {{"ok", false}, {"error", s.ToString()}, {"code", static_cast<int>(s.code())}};
    if (r.nothing) return {{"ok", true}, {"nothing", true}};
    return {{"ok", true},
            {"id", ToHex(r.snapshot.id)},
            {"short_id", ToHex(r.snapshot.id).substr(0, 8)}};
  }
  return {{"ok", false}, {"error", "unknown request: " + op}};
}

// Drops the kernel's cached listings of the directories KlosetFs listed lean
// (KlosetFs::ReadDir), once, on a thread of its own: a notification waits on
// the kernel, and the FUSE worker whose lookup ended lean listings must not.
class ListingInvalidation {
 public:
  explicit ListingInvalidation(fuse_session* se) : se_(se) {}
  ~ListingInvalidation() { Stop(5); }

  void Start(std::vector<uint64_t> dirs) {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_.load() || thread_.joinable()) return;
    running_ = true;
    thread_ = std::thread([this, dirs = std::move(dirs)] {
      for (uint64_t ino : dirs) {
        if (stopping_.load()) break;
        // ENOENT (forgotten meanwhile) and ENOTCONN (unmounted) are fine.
        fuse_lowlevel_notify_inval_inode(se_, ino, 0, 0);
      }
      std::lock_guard<std::mutex> l2(mu_);
      running_ = false;
      cv_.notify_all();
    });
  }

  // True when no notification is under way, so the session may be destroyed.
  bool Stop(int seconds) {
    std::unique_lock<std::mutex> l(mu_);
    stopping_ = true;  // under mu_: no Start after this
    bool done = cv_.wait_for(l, std::chrono::seconds(seconds), [this] { return !running_; });
    l.unlock();
    if (thread_.joinable()) done ? thread_.join() : thread_.detach();
    return done;
  }

 private:
  fuse_session* se_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;               // guarded by mu_
  std::atomic<bool> stopping_{false};  // set under mu_; the thread reads it unlocked
  std::thread thread_;
};

// Serves the mount in this process. `ready_fd` (or -1) receives "OK" once
// the kernel mount exists, or the error message.
Status Serve(const MountOptions& opts, const RepoOpener& open, int ready_fd) {
  auto fail = [&](const Status& s) {
    if (ready_fd >= 0)
      WriteAll(ready_fd, std::to_string(static_cast<int>(s.code())) + " " + s.message());
    return s;
  };
  // Chunks of 1 MiB are allocated and freed by many FUSE and fetch threads;
  // glibc's default of one arena per thread keeps tens of MB of freed
  // chunks per mount. A few arenas keep the daemon near its caches' size.
  mallopt(M_ARENA_MAX, 4);
  // Pack buffers (16 MiB) always from mmap, so a freed one goes back to the
  // system: with glibc's sliding threshold, the first free raises it and
  // later packs come from the arenas, which keep them (measured: 265 MB
  // peak RSS writing 3 GiB into ingest/ with a 131 MB heap peak).
  if (!getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 8 << 20);  // else glibc's
  std::unique_ptr<Repository> repo;
  Status s = open(&repo);
  if (!s.ok()) return fail(s);
  KlosetFs kfs(repo.get(), opts.fs);
  kfs.set_store_name(opts.store);
  s = opts.read_only ? kfs.Start() : kfs.StartWritable(opts.ingest);
  if (!s.ok()) return fail(s);
  ControlServer control;
  if (kfs.ingest()) {
    s = control.Start(Canonical(opts.mountpoint),
                      [&kfs](const nlohmann::json& req) { return HandleControl(&kfs, req); });
    if (!s.ok()) return fail(s.Annotate("control socket"));
    kfs.set_control_path(control.path());
  }

  std::vector<std::string> args = {"klosetfs"};
  // libfuse splits options at commas; a comma inside fsname is escaped.
  std::string fsname;
  for (char c : opts.store) {
    if (c == ',' || c == '\\') fsname.push_back('\\');
    fsname.push_back(c);
  }
  std::string o = "fsname=klosetfs:" + fsname + ",subtype=klosetfs";
  // A read-only superblock: the kernel refuses writes itself, and reads no
  // longer mark atime stale (on a writable one, every file read costs a
  // GETATTR at the reader's next stat: tar's check that the file did not
  // change while read).
  if (opts.read_only) o += ",ro";
  for (auto& f : opts.fuse_options) o += "," + f;
  args.push_back("-o");
  args.push_back(o);
  if (opts.debug) args.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  struct fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  struct fuse_session* se =
      fuse_session_new(&fargs, KlosetFuseOps(), sizeof(struct fuse_lowlevel_ops), &kfs);
  if (!se) return fail(Status::InvalidArgument("bad mount options: " + o));
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    return fail(Status::IOError("cannot install signal handlers"));
  }
  if (fuse_session_mount(se, opts.mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return fail(Status::IOError("cannot mount on " + opts.mountpoint +
                                " (is /dev/fuse usable and fusermount3 installed?)"));
  }
  if (ready_fd >= 0) {
    WriteAll(ready_fd, "OK");
    close(ready_fd);
    // Detach from the terminal only now, so errors above reached the user.
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      if (null > 2) close(null);
    }
    LogToSyslog(true);
  }
  Log(LogLevel::kInfo, "mounted " + opts.store + " on " + opts.mountpoint);
  if (kfs.ingest()) {
    kfs.ingest()->SetEntryInvalidator([se](uint64_t parent, const std::string& name) {
      // ENOENT (not cached) and ENOTCONN (unmounted meanwhile) are fine.
      fuse_lowlevel_notify_inval_entry(se, parent, name.data(), name.size());
    });
  }
  ListingInvalidation listings(se);
  kfs.SetListingInvalidator(
      [&listings](std::vector<uint64_t> dirs) { listings.Start(std::move(dirs)); });
  struct fuse_loop_config cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.clone_fd = 0;
  cfg.max_idle_threads = static_cast<unsigned>(opts.max_threads);
  int rc = fuse_session_loop_mt(se, &cfg);
  // No kernel notification may outlive the session; one stuck on a request
  // this stopped loop never answers (after a signal) leaves the session be.
  const bool listings_done = listings.Stop(5);
  const bool drained = (!kfs.ingest() || kfs.ingest()->StopInvalidating(5)) && listings_done;
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  if (drained) {
    fuse_session_destroy(se);
  } else {
    Log(LogLevel::kWarning, "a kernel notification did not return; the FUSE session is left");
  }
  Log(LogLevel::kInfo, "unmounted " + opts.mountpoint);
  // The kernel mount is gone; what was written into ingest/ becomes a
  // snapshot before the daemon exits (`klosetfs umount` waits for that).
  if (kfs.ingest()) {
    Status c = kfs.ingest()->Shutdown();
    control.Stop();
    if (!c.ok()) return c;
  }
  return rc == 0 ? Status::OK() : Status::IOError("FUSE session ended with an error");
}

}  // namespace

bool IsMountpoint(const std::string& path) {
  std::string want = Canonical(path);
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string id, parent, devno, root, mnt;
    in >> id >> parent >> devno >> root >> mnt;
    if (Unescape(mnt) == want) return true;
  }
  return false;
}

Status CheckMountpoint(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    int e = errno;
    if (e == ENOTCONN)
      return Status::Busy("a stale mount is left at " + path + ": run `klosetfs umount " + path +
                          "` (or `fusermount3 -uz " + path + "`) first");
    if (e == ENOENT) return Status::NotFound("mountpoint " + path + " does not exist");
    return Status::FromErrno(e, "mountpoint " + path);
  }
  if (!S_ISDIR(st.st_mode))
    return Status::InvalidArgument("mountpoint " + path + " is not a directory");
  if (IsMountpoint(path))
    return Status::Busy("something is already mounted on " + path +
                        ": unmount it first (`klosetfs umount " + path + "`)");
  return Status::OK();
}

Status RunMount(const MountOptions& opts, const RepoOpener& open) {
  KLOSET_RETURN_IF_ERROR(CheckMountpoint(opts.mountpoint));
  if (opts.foreground || opts.debug) return Serve(opts, open, -1);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe");
  pid_t pid = fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) {
    close(p[0]);
    setsid();
    if (chdir("/") != 0) _exit(1);
    Status s = Serve(opts, open, p[1]);
    _exit(s.ok() ? 0 : 1);
  }
  close(p[1]);
  std::string msg;
  char buf[512];
  for (;;) {
    ssize_t n = read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    msg.append(buf, static_cast<size_t>(n));
  }
  close(p[0]);
  if (msg == "OK") return Status::OK();
  int status = 0;
  waitpid(pid, &status, 0);
  if (msg.empty()) return Status::IOError("the mount daemon died before the mount was ready");
  size_t sp = msg.find(' ');
  int code = std::atoi(msg.substr(0, sp).c_str());
  return Status(static_cast<Code>(code), sp == std::string::npos ? "" : msg.substr(sp + 1));
}

Status Unmount(const std::string& mountpoint, bool lazy) {
  std::string mp = Canonical(mountpoint);
  if (!IsMountpoint(mp)) return Status::NotFound("nothing is mounted on " + mountpoint);
  if (geteuid() == 0) {
    if (umount2(mp.c_str(), lazy ? MNT_DETACH : 0) == 0) return Status::OK();
    if (errno == EBUSY)
      return Status::Busy(mountpoint + " is busy: files are open (see `fuser -vm " + mountpoint +
                          "`), or use --lazy");
    return Status::FromErrno(errno, "umount " + mountpoint);
  }
  std::vector<std::string> args = {"fusermount3", lazy ? "-uz" : "-u", mp};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, "fusermount3", nullptr, nullptr, argv.data(), environ) != 0)
    return Status::NotFound("fusermount3 is not installed (apt install fuse3)");
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::OK();
  return Status::Busy("could not unmount " + mountpoint + ": busy or not yours (see above)");
}

}  // namespace kloset::fs
