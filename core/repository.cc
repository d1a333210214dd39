// Repository: Init, Open, key slots, accessors and object names.
#include <algorithm>
#include <chrono>
#include <thread>

#include "core/config_object.h"
#include "core/key_slot.h"
#include "core/repository_impl.h"
#include "core/system_info.h"

namespace kloset {

namespace {

std::string FanOut(const char* dir, const Hash& id) {
  std::string h = ToHex(id);
  return std::string(dir) + "/" + h.substr(0, 2) + "/" + h;
}

// The cache folder's root, "" when there is none.
std::string CacheRoot(const OpenOptions& opts) {
  if (opts.no_cache) return "";
  return opts.cache_dir.empty() ? ObjectCache::DefaultRoot() : opts.cache_dir;
}

Status ListNames(Remote* r, const std::string& prefix, std::vector<std::string>* names) {
  Status s = r->List(prefix, [&](const ObjectInfo& o) { names->push_back(o.name); });
  if (!s.ok()) return s.Annotate("listing " + prefix);
  std::sort(names->begin(), names->end());
  return Status::OK();
}

}  // namespace

std::string PackName(const Hash& id) { return FanOut("packs", id); }
std::string IndexName(const Hash& id) { return FanOut("index", id); }
std::string SnapshotName(const Hash& id) { return "snapshots/" + ToHex(id); }
std::string LockName(const Hash& id) { return "locks/" + ToHex(id); }
std::string KeyName(const Hash& id) { return "keys/" + ToHex(id); }

Repository::Impl::~Impl() {
  uploads.reset();  // joins upload threads before the state they use goes away
  Wipe(master.data(), master.size());
  Wipe(id_key.data(), id_key.size());
  Wipe(data_key.data(), data_key.size());
  Wipe(local_key.data(), local_key.size());
}

void Repository::Impl::DeriveKeys() {
  id_key = DeriveSubkey(master, Subkey::kBlobId);
  data_key = DeriveSubkey(master, Subkey::kData);
  local_key = DeriveSubkey(master, Subkey::kLocal);
  Key chunker_key = DeriveSubkey(master, Subkey::kChunker);
  gear = GearTable::FromKey(chunker_key);
  Wipe(chunker_key.data(), chunker_key.size());
}

// A relative spool_dir lives in this store's cache folder (next to the
// cached objects), so each store and cache folder has its own spool.
static Status SpoolDir(const OpenOptions& o, const std::array<uint8_t, 16>& store_id,
                       std::string* dir) {
  *dir = o.spool_dir;
  if (dir->empty() || (*dir)[0] == '/') return Status::OK();
  std::string root = o.cache_dir.empty() ? ObjectCache::DefaultRoot() : o.cache_dir;
  if (o.no_cache || root.empty()) {
    return Status::InvalidArgument("a relative pack spool folder needs the local cache");
  }
  *dir = root + "/" + ToHex(store_id.data(), store_id.size()) + "/" + *dir;
  return Status::OK();
}

Status Repository::Impl::Setup() {
  const std::string root = CacheRoot(opts);
  if (!root.empty()) cache = std::make_unique<ObjectCache>(root + "/" + config.StoreIdHex());
  SetupDataCache();
  tree_lru = std::make_unique<BlobLru>(opts.tree_lru_bytes);
  int n = opts.transfers > 0 ? opts.transfers : remote->MaxParallel();
  n = std::clamp(n, 1, 64);
  uploads = std::make_unique<ThreadPool>(static_cast<size_t>(n));
  // One pack per transfer plus one finished pack of each type waiting.
  max_in_flight = static_cast<size_t>(n) + 2;
  return Status::OK();
}

Repository::Repository(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Repository::~Repository() = default;

Status Repository::Init(std::unique_ptr<Remote> remote, std::string_view passphrase,
                        const InitOptions& opts, std::unique_ptr<Repository>* out) {
  if (!InitCrypto()) return Status::IOError("libsodium failed to initialize");
  if (!remote) return Status::InvalidArgument("no remote");
  StoreConfig c;
  c.chunker = opts.chunker;
  c.pack_size = opts.pack_size;
  c.compression_level = opts.compression_level;
  c.created_ns = NowNs();
  RandomBytes(c.store_id.data(), c.store_id.size());
  KLOSET_RETURN_IF_ERROR(ValidateStoreSettings(c));

  ObjectInfo info;
  Status s = remote->Stat("config", &info);
  if (s.ok()) return Status::Exists("a store already exists at " + remote->Describe());
  if (!s.IsNotFound()) return s.Annotate("checking for an existing config");

  auto impl = std::make_unique<Impl>();
  if (!opts.open.spool_dir.empty()) {
    std::string dir;
    KLOSET_RETURN_IF_ERROR(SpoolDir(opts.open, c.store_id, &dir));
    KLOSET_RETURN_IF_ERROR(PackSpool::Open(dir, c.store_id, &impl->local_key, &impl->spool));
  }
  impl->remote = std::move(remote);
  impl->opts = opts.open;
  impl->config = c;
  impl->master = RandomKey();
  impl->DeriveKeys();
  // Slot before config: a config on the remote always has a slot to open it.
  std::string slot;
  KLOSET_RETURN_IF_ERROR(
      MakeKeySlot(impl->master, passphrase, opts.kdf, opts.key_label, c.created_ns, &slot));
  Hash slot_id = PlainHash(slot);
  s = impl->remote->Write(KeyName(slot_id), slot);
  if (!s.ok()) return s.Annotate("writing " + KeyName(slot_id));
  s = impl->remote->Write("config", EncodeConfig(c, impl->data_key));
  if (!s.ok()) return s.Annotate("writing config");
  impl->current_key = ToHex(slot_id);
  KLOSET_RETURN_IF_ERROR(impl->Setup());
  if (impl->cache) impl->cache->Put(KeyName(slot_id), slot);  // the next Open reads no slot
  KLOSET_RETURN_IF_ERROR(impl->RecoverSpool());  // only other stores' files can be there
  out->reset(new Repository(std::move(impl)));
  return Status::OK();
}

Status Repository::Open(std::unique_ptr<Remote> remote, std::string_view passphrase,
                        const OpenOptions& opts, std::unique_ptr<Repository>* out) {
  if (!InitCrypto()) return Status::IOError("libsodium failed to initialize");
  if (!remote) return Status::InvalidArgument("no remote");
  // One round trip for three requests that need nothing from each other.
  std::vector<std::string> names, index_names;
  Status keys_listed, index_listed;
  std::thread key_lister([&] { keys_listed = ListNames(remote.get(), "keys/", &names); });
  std::thread index_lister([&] { index_listed = ListNames(remote.get(), "index/", &index_names); });
  std::string cfg = opts.config_bytes;
  Status s = cfg.empty() ? remote->Read("config", 0, Remote::kToEnd, &cfg) : Status::OK();
  key_lister.join();
  index_lister.join();
  if (s.IsNotFound()) {
    return Status::NotFound("no klosetfs store at " + remote->Describe() + " (no config)");
  }
  if (!s.ok()) return s.Annotate("reading config");
  StoreConfig header;
  KLOSET_RETURN_IF_ERROR(ParseConfigHeader(cfg, &header));
  KLOSET_RETURN_IF_ERROR(keys_listed);
  KLOSET_RETURN_IF_ERROR(index_listed);

  // Key slots are content-named, so a cached copy is the slot itself; one
  // is used only while keys/ still lists it (a removed key stays removed).
  std::unique_ptr<ObjectCache> key_cache;
  const std::string cache_root = CacheRoot(opts);
  if (!cache_root.empty()) {
    key_cache = std::make_unique<ObjectCache>(
        cache_root + "/" + ToHex(header.store_id.data(), header.store_id.size()));
  }
  auto impl = std::make_unique<Impl>();
  if (!opts.spool_dir.empty()) {
    // Before the passphrase work: a busy spool folder fails fast.
    std::string dir;
    KLOSET_RETURN_IF_ERROR(SpoolDir(opts, header.store_id, &dir));
    KLOSET_RETURN_IF_ERROR(PackSpool::Open(dir, header.store_id, &impl->local_key, &impl->spool));
  }
  std::vector<std::string> damaged;
  Status other_error;    // a read or KDF failure: must not pass for a wrong passphrase
  Status config_error;   // a slot opened but the config did not authenticate
  Status version_error;  // a slot written by a newer klosetfs
  bool refused = false;  // an intact slot refused the passphrase
  bool opened = false;
  // Slots an earlier open cached go first: one of them most likely takes
  // this passphrase, and trying it costs no request (nor a KDF run on others).
  std::vector<std::pair<std::string, std::string>> order;  // name, cached bytes
  for (const std::string& name : names) {
    std::string bytes;
    if (key_cache && key_cache->Get(name, &bytes)) order.emplace_back(name, std::move(bytes));
  }
  const size_t cached_count = order.size();
  for (const std::string& name : names) {
    if (!std::any_of(order.begin(), order.begin() + cached_count,
                     [&](const auto& o) { return o.first == name; })) {
      order.emplace_back(name, "");
    }
  }
  for (size_t i = 0; i < order.size(); i++) {
    const std::string& name = order[i].first;
    std::string& bytes = order[i].second;
    KeySlot slot;
    bool cached = i < cached_count;
    s = cached ? ParseKeySlot(bytes, &slot) : Status::Corrupt("not read");
    if (!s.ok()) {  // not cached, or a damaged cached copy: the store's
      cached = false;
      s = remote->Read(name, 0, Remote::kToEnd, &bytes);
      if (s.ok()) s = ParseKeySlot(bytes, &slot);
    }
    if (s.IsCorrupt()) {
      damaged.push_back(name);
      continue;
    }
    if (s.code() == Code::kVersion) {
      version_error = s.Annotate(name);
      continue;
    }
    if (s.ok()) s = UnwrapKeySlot(slot, passphrase, &impl->master);
    if (s.code() == Code::kWrongPassword) {
      refused = true;
      continue;
    }
    if (!s.ok()) {
      if (other_error.ok()) other_error = s.Annotate(name);
      continue;
    }
    impl->DeriveKeys();
    s = DecodeConfig(cfg, impl->data_key, &impl->config);
    if (!s.ok()) {
      // A slot left by an interrupted init, or damaged settings.
      if (config_error.ok()) config_error = s.Annotate("config (opened with " + name + ")");
      continue;
    }
    impl->current_key = name.substr(name.find('/') + 1);
    opened = true;
    if (key_cache && !cached) key_cache->Put(name, bytes);
    break;
  }
  if (!opened) {
    Wipe(impl->master.data(), impl->master.size());
    if (!config_error.ok()) return config_error;
    if (!other_error.ok()) return other_error;
    std::string list;
    for (const auto& d : damaged) list += (list.empty() ? "" : ", ") + d;
    if (names.empty()) return Status::Corrupt("store has no key slots (keys/ is empty)");
    if (!refused && !version_error.ok()) return version_error;
    if (!refused) return Status::Corrupt("key slot damaged: no intact key slot (" + list + ")");
    if (!damaged.empty()) {
      return Status::WrongPassword("wrong passphrase (damaged key slots skipped: " + list + ")");
    }
    return Status::WrongPassword("wrong passphrase");
  }
  impl->remote = std::move(remote);
  impl->opts = opts;
  KLOSET_RETURN_IF_ERROR(impl->Setup());
  KLOSET_RETURN_IF_ERROR(impl->LoadIndexes(/*only_new=*/false, &index_names));
  impl->TrimCache();
  if (key_cache) {
    // Slots removed from the store leave the cache too.
    key_cache->Trim("keys", std::chrono::seconds(0), [&](const std::string& n) {
      return std::binary_search(names.begin(), names.end(), n);
    });
  }
  KLOSET_RETURN_IF_ERROR(impl->RecoverSpool());  // after the indexes: known blobs are skipped
  out->reset(new Repository(std::move(impl)));
  return Status::OK();
}

Hash Repository::HashBlob(std::string_view plaintext) const {
  return KeyedHash(impl_->id_key, plaintext);
}

const StoreConfig& Repository::config() const { return impl_->config; }
const GearTable& Repository::gear() const { return impl_->gear; }
Remote* Repository::remote() const { return impl_->remote.get(); }
RepoStats& Repository::stats() { return impl_->stats; }
const std::string& Repository::CurrentKeyId() const { return impl_->current_key; }
const Key& Repository::LocalKey() const { return impl_->local_key; }

std::string Repository::CacheDir() const { return impl_->cache ? impl_->cache->dir() : ""; }

Status Repository::AddKey(std::string_view passphrase, const KdfParams& kdf,
                          const std::string& label, std::string* key_id) {
  std::string slot;
  KLOSET_RETURN_IF_ERROR(MakeKeySlot(impl_->master, passphrase, kdf, label, NowNs(), &slot));
  Hash id = PlainHash(slot);
  Status s = impl_->remote->Write(KeyName(id), slot);
  if (!s.ok()) return s.Annotate("writing " + KeyName(id));
  if (key_id) *key_id = ToHex(id);
  return Status::OK();
}

Status Repository::ListKeys(std::vector<KeyInfo>* keys) {
  std::vector<std::string> names;
  KLOSET_RETURN_IF_ERROR(ListNames(impl_->remote.get(), "keys/", &names));
  std::vector<KeyInfo> out;
  for (const std::string& name : names) {
    std::string bytes;
    Status s = impl_->remote->Read(name, 0, Remote::kToEnd, &bytes);
    if (s.IsNotFound()) continue;  // removed meanwhile
    if (!s.ok()) return s.Annotate("reading " + name);
    KeyInfo k;
    k.id = name.substr(name.find('/') + 1);
    k.current = k.id == impl_->current_key;
    KeySlot slot;
    if (ParseKeySlot(bytes, &slot).ok()) {
      k.created_ns = slot.created_ns;
      k.damaged = !OpenKeySlotLabel(slot, impl_->data_key, &k.label).ok();
    } else {
      k.damaged = true;
    }
    out.push_back(std::move(k));
  }
  std::sort(out.begin(), out.end(), [](const KeyInfo& a, const KeyInfo& b) {
    return a.created_ns != b.created_ns ? a.created_ns < b.created_ns : a.id < b.id;
  });
  *keys = std::move(out);
  return Status::OK();
}

Status Repository::RemoveKey(const std::string& key_id_prefix) {
  std::string prefix = key_id_prefix;
  std::transform(prefix.begin(), prefix.end(), prefix.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (prefix.empty() || prefix.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Status::InvalidArgument("key id '" + key_id_prefix + "' is not a hex prefix");
  }
  std::vector<KeyInfo> keys;
  KLOSET_RETURN_IF_ERROR(ListKeys(&keys));
  const KeyInfo* match = nullptr;
  size_t matches = 0, intact = 0;
  for (const KeyInfo& k : keys) {
    if (!k.damaged) intact++;
    if (k.id.compare(0, prefix.size(), prefix) == 0) {
      match = &k;
      matches++;
    }
  }
  if (matches == 0) return Status::NotFound("no key slot matches '" + key_id_prefix + "'");
  if (matches > 1) {
    return Status::InvalidArgument("key id '" + key_id_prefix + "' is ambiguous (" +
                                   std::to_string(matches) + " key slots match)");
  }
  if (intact - (match->damaged ? 0 : 1) == 0) {
    return Status::InvalidArgument("refusing to remove the last key slot (keys/" + match->id +
                                   "): the store could never be opened again");
  }
  if (match->current) {
    return Status::InvalidArgument("refusing to remove the key slot in use (keys/" + match->id +
                                   "); open the store with another passphrase to remove it");
  }
  Status s = impl_->remote->Delete("keys/" + match->id);
  if (!s.ok()) return s.Annotate("deleting keys/" + match->id);
  return Status::OK();
}

Status Repository::ReadPackHeader(const std::string& pack_bytes,
                                  std::vector<IndexEntry>* entries) const {
  return ParsePack(impl_->data_key, pack_bytes, entries);
}

}  // namespace kloset
