#include "cli/common.h"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cli/password.h"
#include "core/version.h"

namespace kloset::cli {

void Die(int code, const std::string& message) { throw ExitError(code, message); }

void DieStatus(const Status& s, const std::string& context) {
  Die(ExitCodeFor(s), context + ": " + s.message());
}

void Warn(const std::string& message) {
  std::fprintf(stderr, "klosetfs: %s\n", message.c_str());
}

void ResolvePositionals(const std::string& command, const std::string& usage,
                        const std::vector<std::string*>& slots) {
  size_t n = 0;
  while (n < slots.size() && !slots[n]->empty()) n++;
  if (n == slots.size()) return;
  const char* env = std::getenv("KLOSETFS_STORE");
  if (n + 1 == slots.size() && env && *env) {
    for (size_t i = n; i > 0; i--) *slots[i] = *slots[i - 1];
    *slots[0] = env;
    return;
  }
  Die(kExitUsage, command + " needs " + usage +
                      " (STORE may come from KLOSETFS_STORE); see 'klosetfs help " + command +
                      "'");
}

namespace {

uint32_t Le32(const std::string& b, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b[at])) |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 3])) << 24;
}

// Reads the plaintext config header so a missing or newer store is refused
// before anyone is asked for a passphrase (docs/FORMAT.md, "config").
// Returns the whole config object (small), which Repository::Open then
// need not read again.
std::string CheckConfigHeader(Remote* remote, const std::string& store) {
  std::string head;
  Status s = remote->Read("config", 0, Remote::kToEnd, &head);
  if (s.IsNotFound()) {
    Die(kExitNoStore, "no store at " + store + " (no config found; create one with "
                      "'klosetfs init " + store + "')");
  }
  if (!s.ok()) DieStatus(s, "cannot read the config of store " + store);
  if (head.size() >= 8 && head.compare(0, 8, "KLOSETFS") != 0) {
    Die(kExitNoStore, store + " is not a klosetfs store (its config has no KLOSETFS magic)");
  }
  if (head.size() < 12) Die(kExitDamage, "the config of store " + store + " is truncated");
  uint32_t version = Le32(head, 8);
  if (version != kFormatVersion) {
    Die(kExitVersion, "store " + store + " has format version " + std::to_string(version) +
                          ", but klosetfs " KLOSETFS_VERSION " supports only version " +
                          std::to_string(kFormatVersion) +
                          (version > kFormatVersion ? "; upgrade klosetfs" : ""));
  }
  return head;
}

}  // namespace

std::unique_ptr<Repository> OpenStore(const GlobalOptions& g, const std::string& store) {
  std::unique_ptr<Remote> remote;
  Status s = OpenRemote(store, /*create=*/false, &remote);
  if (s.IsNotFound()) Die(kExitNoStore, "no store at " + store + " (" + s.message() + ")");
  if (!s.ok()) DieStatus(s, "cannot open store " + store);
  std::string config = CheckConfigHeader(remote.get(), store);
  if (g.verbose) Warn("opening " + remote->Describe());

  OpenOptions opts;
  opts.config_bytes = std::move(config);
  opts.cache_dir = g.cache_dir;
  opts.no_cache = g.no_cache;
  std::unique_ptr<Repository> repo;
  {
    Secret pass = ReadPassphrase(g, store, /*confirm=*/false);
    s = Repository::Open(std::move(remote), pass.view(), opts, &repo);
  }
  if (s.code() == Code::kWrongPassword) {
    Die(kExitWrongPassword, "wrong passphrase for store " + store);
  }
  if (s.IsNotFound()) Die(kExitNoStore, "no store at " + store + " (" + s.message() + ")");
  if (!s.ok()) DieStatus(s, "cannot open store " + store);
  return repo;
}

SnapshotRef ParseSnapshotRef(const std::string& arg) {
  SnapshotRef ref;
  size_t colon = arg.find(':');
  ref.snapshot = arg.substr(0, colon);
  for (char& c : ref.snapshot) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  bool hex = !ref.snapshot.empty() && ref.snapshot.size() <= 64 &&
             ref.snapshot.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (!hex && ref.snapshot != "latest") {
    Die(kExitUsage, "invalid snapshot '" + arg.substr(0, colon) +
                        "': expected a snapshot id, a unique prefix of one, or 'latest'");
  }
  ref.path = colon == std::string::npos ? "/" : arg.substr(colon + 1);
  if (ref.path.empty() || ref.path[0] != '/') ref.path.insert(0, "/");
  while (ref.path.size() > 1 && ref.path.back() == '/') ref.path.pop_back();
  return ref;
}

Snapshot ResolveOrDie(Repository* repo, const std::string& store, const SnapshotRef& ref) {
  Snapshot snap;
  Status s = ResolveSnapshot(repo, ref.snapshot, &snap);
  if (s.ok()) return snap;
  if (s.IsNotFound()) {
    Die(kExitError, ref.snapshot == "latest"
                        ? "store " + store + " has no snapshots"
                        : "no snapshot matches '" + ref.snapshot + "' in store " + store);
  }
  if (s.code() == Code::kInvalidArgument) {
    Die(kExitUsage, "snapshot prefix '" + ref.snapshot + "' is ambiguous in store " + store +
                        "; give more digits");
  }
  DieStatus(s, "cannot find snapshot '" + ref.snapshot + "' in store " + store);
}

namespace {
std::atomic<Progress*> g_cancel_target{nullptr};
std::atomic<int> g_signals{0};
struct sigaction g_old_int, g_old_term;

void OnSignal(int sig) {
  if (g_signals.fetch_add(1) > 0) {
    signal(sig, SIG_DFL);  // second signal: stop now, the default way
    raise(sig);
    return;
  }
  if (Progress* p = g_cancel_target.load()) p->cancel.store(true);
}
}  // namespace

InterruptScope::InterruptScope(Progress* progress) {
  g_cancel_target.store(progress);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptScope::~InterruptScope() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  g_cancel_target.store(nullptr);
}

bool InterruptScope::interrupted() { return g_signals.load() > 0; }

KdfParams KdfFromOptions(int kdf_memory_mib, int kdf_ops) {
  KdfParams kdf;
  const char* fast = std::getenv("KLOSETFS_TEST_FAST_KDF");
  if (fast && std::strcmp(fast, "1") == 0) {
    kdf.opslimit = 1;
    kdf.memlimit = 1ull << 20;
  }
  if (kdf_memory_mib > 0) kdf.memlimit = static_cast<uint64_t>(kdf_memory_mib) << 20;
  if (kdf_ops > 0) kdf.opslimit = static_cast<uint64_t>(kdf_ops);
  return kdf;
}

std::string DefaultKeyLabel() {
  std::string user;
  if (const char* u = std::getenv("USER"); u && *u) {
    user = u;
  } else if (passwd* pw = getpwuid(getuid())) {
    user = pw->pw_name;
  }
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return user + "@" + host;
}

// "16MiB", "16M", "64k", "1048576" -> bytes (binary units). False on junk.
bool ParseSize(const std::string& text, uint64_t* out) {
  size_t pos = 0;
  uint64_t n = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    if (n > (UINT64_MAX - 9) / 10) return false;
    n = n * 10 + static_cast<uint64_t>(text[pos++] - '0');
  }
  if (pos == 0) return false;
  std::string unit = text.substr(pos);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int shift = 0;
  if (unit == "" || unit == "b") {
    shift = 0;
  } else if (unit == "k" || unit == "kib") {
    shift = 10;
  } else if (unit == "m" || unit == "mib") {
    shift = 20;
  } else if (unit == "g" || unit == "gib") {
    shift = 30;
  } else {
    return false;
  }
  if (n > (UINT64_MAX >> shift)) return false;
  *out = n << shift;
  return true;
}

}  // namespace kloset::cli
