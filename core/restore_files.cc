// Writing a batch of restored files: see core/restore_files.h.
#include "core/restore_files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string_view>
#include <unordered_map>

#include "core/fs_restore.h"
#include "core/fs_scan.h"
#include "core/index.h"

namespace kloset {

namespace {

constexpr uint64_t kMaxChunk = 1ull << 30;  // no valid chunker makes larger chunks

bool Loadable(const ChunkRef& c) { return !c.is_hole && c.size > 0 && c.size <= kMaxChunk; }

// The data chunks of a batch, loaded a window at a time in file order.
class ChunkWindow {
 public:
  ChunkWindow(BlobStore* store, const std::vector<FileToRestore>& files)
      : store_(store), files_(files) {}

  // The plaintext of files[f].node.chunks[c] (Loadable), loading the window
  // that starts there unless the current one holds it.
  Status Get(size_t f, size_t c, std::string_view* data) {
    const Hash& id = files_[f].node.chunks[c].id;
    auto it = where_.find(id);
    if (it == where_.end()) {
      Load(f, c);
      it = where_.find(id);
    }
    Status s = statuses_[it->second];
    if (s.IsNotFound()) s = Status::Corrupt("missing from the store (" + s.message() + ")");
    if (!s.ok()) return s.Annotate("data blob " + ToHex(id));
    *data = blobs_[it->second];
    return Status::OK();
  }

 private:
  void Load(size_t f, size_t c) {
    where_.clear();
    ids_.clear();
    uint64_t bytes = 0;
    for (; f < files_.size() && bytes < kRestoreWindow; f++, c = 0) {
      const std::vector<ChunkRef>& chunks = files_[f].node.chunks;
      for (; c < chunks.size() && bytes < kRestoreWindow; c++) {
        if (!Loadable(chunks[c]) || where_.count(chunks[c].id)) continue;
        where_.emplace(chunks[c].id, ids_.size());
        ids_.push_back(chunks[c].id);
        bytes += chunks[c].size;
      }
    }
    store_->LoadBlobs(BlobType::kData, ids_, &blobs_, &statuses_);
  }

  BlobStore* store_;
  const std::vector<FileToRestore>& files_;
  std::unordered_map<Hash, size_t, HashHasher> where_;  // id -> slot
  std::vector<Hash> ids_;
  std::vector<std::string> blobs_;
  std::vector<Status> statuses_;
};

class BatchWriter {
 public:
  BatchWriter(const FileRestoreEnv& env, const std::vector<FileToRestore>& files)
      : env_(env), files_(files), window_(env.store, files), pid_(std::to_string(getpid())) {}

  // Restores files[f]; *fatal tells a stopping error from one that fails
  // this file only.
  Status Write(size_t f, std::vector<std::string>* problems, bool* fatal);

 private:
  Status Create(const FileToRestore& file, mode_t mode, int* fd, std::string* tmp, bool* fatal);
  Status Fill(size_t f, int fd, bool* fatal);

  const FileRestoreEnv& env_;
  const std::vector<FileToRestore>& files_;
  ChunkWindow window_;
  const std::string pid_;
};

Status BatchWriter::Create(const FileToRestore& file, mode_t mode, int* fd, std::string* tmp,
                           bool* fatal) {
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  tmp->clear();
  if (file.absent) {
    *fd = open(file.path.c_str(), flags, mode);
    if (*fd >= 0) return Status::OK();
    if (errno != EEXIST) {
      *fatal = IsFatalRestoreErrno(errno);
      return Status::FromErrno(errno, "creating " + file.path);
    }
    // Something appeared there meanwhile (or the snapshot names it twice).
    Status cs = ClearPath(file.path, env_.overwrite, /*remove=*/false);
    if (!cs.ok()) return cs;
  }
  const std::string& path = file.path;
  const std::string dir = path.substr(0, std::max<size_t>(path.rfind('/'), 1));
  for (int attempt = 0;; attempt++) {
    *tmp = JoinPath(dir, ".klosetfs-tmp-" + pid_ + "-" + std::to_string((*env_.tmp_counter)++));
    *fd = open(tmp->c_str(), flags, mode);
    if (*fd >= 0) return Status::OK();
    if (errno != EEXIST || attempt > 100) {
      *fatal = IsFatalRestoreErrno(errno);
      return Status::FromErrno(errno, "creating a file in " + dir);
    }
  }
}

Status BatchWriter::Fill(size_t f, int fd, bool* fatal) {
  const FileToRestore& file = files_[f];
  const std::vector<ChunkRef>& chunks = file.node.chunks;
  uint64_t off = 0, data_end = 0;
  for (size_t c = 0; c < chunks.size(); c++) {
    const ChunkRef& ref = chunks[c];
    if (off + ref.size < off)
      return Status::Corrupt("chunk sizes of file add up to more than 2^64");
    if (ref.is_hole || ref.size == 0) {
      off += ref.size;  // left unwritten: stays a hole
      continue;
    }
    if (env_.progress->cancel.load()) {
      *fatal = true;
      return Status::Cancelled("restore cancelled");
    }
    if (ref.size > kMaxChunk)
      return Status::Corrupt("chunk of " + std::to_string(ref.size) + " bytes");
    std::string_view data;
    Status s = window_.Get(f, c, &data);
    if (!s.ok()) {
      *fatal = !s.IsCorrupt();  // damage fails the file only
      return s;
    }
    if (data.size() != ref.size) {
      return Status::Corrupt("data blob " + ToHex(ref.id) + " holds " +
                             std::to_string(data.size()) + " bytes, file expects " +
                             std::to_string(ref.size));
    }
    for (size_t done = 0; done < data.size();) {
      ssize_t n =
          pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(off + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        *fatal = IsFatalRestoreErrno(errno);
        return Status::FromErrno(errno, "writing " + file.path);
      }
      if (n == 0) return Status::IOError("writing " + file.path + ": no progress");
      done += static_cast<size_t>(n);
    }
    off += ref.size;
    data_end = off;
    *env_.bytes += ref.size;
    env_.progress->bytes_done += ref.size;
  }
  // Only a trailing hole leaves the size short of the file's.
  if (off != data_end && ftruncate(fd, static_cast<off_t>(off)) != 0) {
    *fatal = IsFatalRestoreErrno(errno);
    return Status::FromErrno(errno, "setting the size of " + file.path);
  }
  return Status::OK();
}

Status BatchWriter::Write(size_t f, std::vector<std::string>* problems, bool* fatal) {
  const FileToRestore& file = files_[f];
  const Node& node = file.node;
  // Created with its final permission bits when the umask leaves them alone;
  // special bits (cleared by chown) and ACLs (in xattrs) still need chmod.
  const mode_t want = node.mode & 0777;
  const bool exact = file.mode_known && env_.umask >= 0 &&
                     (want & static_cast<mode_t>(env_.umask)) == 0 && (node.mode & 07000) == 0 &&
                     node.xattrs.empty();
  int fd = -1;
  std::string tmp;
  KLOSET_RETURN_IF_ERROR(Create(file, exact ? want : 0600, &fd, &tmp, fatal));
  Status s = Fill(f, fd, fatal);
  if (s.ok()) {
    const bool owned = file.owner_known && file.new_uid == node.uid && file.new_gid == node.gid;
    ApplyMetadata(file.path, fd, node, env_.chown && !owned, /*set_mode=*/!exact, problems);
  }
  if (close(fd) != 0 && s.ok()) {
    *fatal = IsFatalRestoreErrno(errno);
    s = Status::FromErrno(errno, "writing " + file.path);
  }
  if (s.ok() && !tmp.empty() && rename(tmp.c_str(), file.path.c_str()) != 0) {
    *fatal = IsFatalRestoreErrno(errno);
    s = Status::FromErrno(errno, "rename to " + file.path);
  }
  if (!s.ok()) unlink(tmp.empty() ? file.path.c_str() : tmp.c_str());
  return s;
}

}  // namespace

Status RestoreFiles(const FileRestoreEnv& env, const std::vector<FileToRestore>& files,
                    std::vector<FileOutcome>* out) {
  out->clear();
  BatchWriter writer(env, files);
  for (size_t f = 0; f < files.size(); f++) {
    FileOutcome o;
    bool fatal = false;
    o.status = writer.Write(f, &o.problems, &fatal);
    if (fatal) return o.status;
    out->push_back(std::move(o));
  }
  return Status::OK();
}

}  // namespace kloset
