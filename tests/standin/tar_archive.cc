#include "tests/standin/tar_archive.h"

#include <algorithm>
#include <limits>

#include "absl/strings/numbers.h"

namespace kubehub::standin {
namespace {

constexpr size_t kBlock = TarWriter::kBlock;

// Header field offsets and lengths (POSIX ustar; GNU uses the same up to the magic).
constexpr size_t kNameOff = 0, kNameLen = 100;
constexpr size_t kModeOff = 100, kUidOff = 108, kGidOff = 116, kIdLen = 8;
constexpr size_t kSizeOff = 124, kMtimeOff = 136, kTimeLen = 12;
constexpr size_t kChksumOff = 148, kChksumLen = 8;
constexpr size_t kTypeOff = 156;
constexpr size_t kLinkOff = 157, kLinkLen = 100;
constexpr size_t kMagicOff = 257;
constexpr size_t kUnameOff = 265, kGnameOff = 297, kOwnerLen = 32;
constexpr size_t kPrefixOff = 345, kPrefixLen = 155;

constexpr std::string_view kPosixMagic("ustar\0", 6);
constexpr std::string_view kGnuMagic("ustar  \0", 8);
constexpr std::string_view kLongLink = "././@LongLink";

uint64_t padding(uint64_t n) { return (kBlock - n % kBlock) % kBlock; }

// A string field: up to its first NUL.
std::string_view text(std::string_view block, size_t off, size_t len) {
  std::string_view f = block.substr(off, len);
  return f.substr(0, f.find('\0'));
}

// A numeric field: octal digits padded with spaces or NULs, or GNU's base-256 (high bit of the
// first byte set) for values octal cannot hold. nullopt when it is neither, or negative.
std::optional<uint64_t> number(std::string_view block, size_t off, size_t len) {
  std::string_view f = block.substr(off, len);
  const auto first = static_cast<unsigned char>(f[0]);
  if (first & 0x80) {
    if (first == 0xff) return std::nullopt;  // negative
    uint64_t v = first & 0x7f;
    for (size_t i = 1; i < f.size(); ++i) {
      if (v > (std::numeric_limits<uint64_t>::max() >> 8)) return std::nullopt;
      v = (v << 8) | static_cast<unsigned char>(f[i]);
    }
    return v;
  }
  while (!f.empty() && (f.front() == ' ' || f.front() == '\0')) f.remove_prefix(1);
  while (!f.empty() && (f.back() == ' ' || f.back() == '\0')) f.remove_suffix(1);
  uint64_t v = 0;
  for (char c : f) {
    if (c < '0' || c > '7' || v > (std::numeric_limits<uint64_t>::max() >> 3)) return std::nullopt;
    v = (v << 3) | static_cast<uint64_t>(c - '0');
  }
  return v;
}

// The stored checksum matches the block's bytes summed with the checksum field as spaces
// (unsigned, or signed as some old tars computed it).
bool checksumMatches(std::string_view block) {
  std::optional<uint64_t> stored = number(block, kChksumOff, kChksumLen);
  if (!stored.has_value()) return false;
  int64_t unsigned_sum = 0;
  int64_t signed_sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    bool in_field = i >= kChksumOff && i < kChksumOff + kChksumLen;
    char c = in_field ? ' ' : block[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  return static_cast<int64_t>(*stored) == unsigned_sum ||
         static_cast<int64_t>(*stored) == signed_sum;
}

bool allZero(std::string_view block) {
  return std::all_of(block.begin(), block.end(), [](char c) { return c == '\0'; });
}

void putText(std::string& block, size_t off, size_t len, std::string_view s) {
  block.replace(off, std::min(len, s.size()), s.substr(0, len));
}

// `len - 1` octal digits and a NUL, or base-256 when octal cannot hold the value (as GNU tar).
void putNumber(std::string& block, size_t off, size_t len, uint64_t v) {
  const size_t digits = len - 1;
  if (digits >= 22 || v < (uint64_t{1} << (3 * digits))) {
    for (size_t i = 0; i < digits; ++i) {
      block[off + digits - 1 - i] = static_cast<char>('0' + ((v >> (3 * i)) & 7));
    }
    block[off + digits] = '\0';
    return;
  }
  for (size_t i = 0; i < len - 1; ++i) {
    block[off + len - 1 - i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
  block[off] = static_cast<char>(0x80);
}

}  // namespace

// ---- writer ---------------------------------------------------------------------------------

void TarWriter::add(const TarEntry& entry, std::string_view bytes) {
  begin(entry);
  data(bytes);
  end();
}

void TarWriter::begin(const TarEntry& entry) {
  if (entry.name.size() > kNameLen) {
    TarEntry rec;
    rec.typeflag = 'L';
    rec.name = kLongLink;
    rec.uname = rec.gname = "root";
    std::string name = entry.name + '\0';
    rec.size = name.size();
    headerBlock(rec, rec.name, "");
    out_ += name;
    pad();
  }
  if (entry.link.size() > kLinkLen) {
    TarEntry rec;
    rec.typeflag = 'K';
    rec.name = kLongLink;
    rec.uname = rec.gname = "root";
    std::string link = entry.link + '\0';
    rec.size = link.size();
    headerBlock(rec, rec.name, "");
    out_ += link;
    pad();
  }
  headerBlock(entry, std::string_view(entry.name).substr(0, kNameLen),
              std::string_view(entry.link).substr(0, kLinkLen));
}

void TarWriter::headerBlock(const TarEntry& entry, std::string_view name, std::string_view link) {
  std::string b(kBlock, '\0');
  putText(b, kNameOff, kNameLen, name);
  putNumber(b, kModeOff, kIdLen, entry.mode & 07777);
  putNumber(b, kUidOff, kIdLen, entry.uid);
  putNumber(b, kGidOff, kIdLen, entry.gid);
  putNumber(b, kSizeOff, kTimeLen, entry.size);
  putNumber(b, kMtimeOff, kTimeLen, static_cast<uint64_t>(std::max<int64_t>(entry.mtime, 0)));
  b[kTypeOff] = entry.typeflag;
  putText(b, kLinkOff, kLinkLen, link);
  putText(b, kMagicOff, kGnuMagic.size(), kGnuMagic);
  putText(b, kUnameOff, kOwnerLen - 1, entry.uname);
  putText(b, kGnameOff, kOwnerLen - 1, entry.gname);
  b.replace(kChksumOff, kChksumLen, kChksumLen, ' ');
  uint64_t sum = 0;
  for (char c : b) sum += static_cast<unsigned char>(c);
  putNumber(b, kChksumOff, 7, sum);  // six digits, NUL, and the space already there
  out_ += b;
}

void TarWriter::pad() { out_.append(padding(written()), '\0'); }

void TarWriter::finish() {
  out_.append(2 * kBlock, '\0');
  out_.append((kRecord - written() % kRecord) % kRecord, '\0');
}

std::string TarWriter::take() {
  taken_ += out_.size();
  std::string out;
  out.swap(out_);
  return out;
}

// ---- reader ---------------------------------------------------------------------------------

void TarReader::feed(std::string_view bytes) {
  while (!bytes.empty() && phase_ != Phase::kDone) {
    if (phase_ == Phase::kData || phase_ == Phase::kRecord) {
      if (data_left_ > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(data_left_, bytes.size()));
        if (phase_ == Phase::kRecord) {
          record_.append(bytes.substr(0, n));
        } else if (pass_data_) {
          sink_.data(bytes.substr(0, n));
        }
        data_left_ -= n;
        offset_ += n;
        bytes.remove_prefix(n);
        if (data_left_ == 0 && phase_ == Phase::kData) {
          in_member_ = false;
          sink_.end();
        }
      } else {
        size_t n = static_cast<size_t>(std::min<uint64_t>(pad_left_, bytes.size()));
        pad_left_ -= n;
        offset_ += n;
        bytes.remove_prefix(n);
      }
      if (phase_ != Phase::kDone && data_left_ == 0 && pad_left_ == 0) {
        if (phase_ == Phase::kRecord) {
          phase_ = Phase::kHeader;
          extendedRecord();
        } else {
          phase_ = Phase::kHeader;
        }
      }
      continue;
    }
    size_t n = std::min(kBlock - partial_.size(), bytes.size());
    partial_.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
    if (partial_.size() < kBlock) break;
    std::string b;
    b.swap(partial_);
    offset_ += kBlock;
    block(b);
  }
}

void TarReader::block(std::string_view b) {
  const bool first = offset_ == kBlock;
  if (phase_ == Phase::kSecondZero) {
    if (!allZero(b)) sink_.message("A lone zero block at " + std::to_string(zero_block_));
    phase_ = Phase::kDone;
    return;
  }
  if (allZero(b)) {
    zero_block_ = offset_ / kBlock;
    phase_ = Phase::kSecondZero;
    return;
  }
  if (!checksumMatches(b)) {
    if (first) sink_.message("This does not look like a tar archive");
    if (!skipping_) sink_.message("Skipping to next header");
    skipping_ = true;
    failed_ = true;
    return;
  }
  header(b);
}

void TarReader::header(std::string_view b) {
  const char flag = b[kTypeOff];
  std::optional<uint64_t> size = number(b, kSizeOff, kTimeLen);
  std::optional<uint64_t> mode = number(b, kModeOff, kIdLen);
  std::optional<uint64_t> uid = number(b, kUidOff, kIdLen);
  std::optional<uint64_t> gid = number(b, kGidOff, kIdLen);
  std::optional<uint64_t> mtime = number(b, kMtimeOff, kTimeLen);
  if (!size || !mode || !uid || !gid || !mtime) {
    // GNU tar names the field it could not read; either way the header is skipped.
    if (!skipping_) sink_.message("Skipping to next header");
    skipping_ = true;
    failed_ = true;
    return;
  }
  skipping_ = false;

  if (flag == 'L' || flag == 'K' || flag == 'x' || flag == 'g') {
    if (*size > kMaxExtendedRecord) {
      fail("Archive contains an extended header of " + std::to_string(*size) +
           " bytes, more than the " + std::to_string(kMaxExtendedRecord) + " this tar reads");
      sink_.message("Error is not recoverable: exiting now");
      fatal_ = true;
      phase_ = Phase::kDone;
      return;
    }
    record_type_ = flag;
    record_.clear();
    data_left_ = *size;
    pad_left_ = padding(*size);
    phase_ = Phase::kRecord;
    if (data_left_ == 0 && pad_left_ == 0) {
      phase_ = Phase::kHeader;
      extendedRecord();
    }
    return;
  }

  TarEntry e;
  e.typeflag = flag;
  std::string name(text(b, kNameOff, kNameLen));
  if (b.substr(kMagicOff, kPosixMagic.size()) == kPosixMagic) {
    std::string_view prefix = text(b, kPrefixOff, kPrefixLen);
    if (!prefix.empty()) name = std::string(prefix) + "/" + name;
  }
  e.name = next_name_.value_or(name);
  e.link = next_link_.value_or(std::string(text(b, kLinkOff, kLinkLen)));
  e.size = next_size_.value_or(*size);
  e.mode = static_cast<uint32_t>(*mode & 07777);
  e.uid = next_uid_.value_or(static_cast<uint32_t>(*uid));
  e.gid = next_gid_.value_or(static_cast<uint32_t>(*gid));
  e.uname = next_uname_.value_or(std::string(text(b, kUnameOff, kOwnerLen)));
  e.gname = next_gname_.value_or(std::string(text(b, kGnameOff, kOwnerLen)));
  e.mtime = next_mtime_.value_or(static_cast<int64_t>(*mtime));
  next_name_.reset();
  next_link_.reset();
  next_size_.reset();
  next_mtime_.reset();
  next_uid_.reset();
  next_gid_.reset();
  next_uname_.reset();
  next_gname_.reset();

  switch (flag) {
    case '1':
      e.type = TarEntry::Type::kHardLink;
      break;
    case '2':
      e.type = TarEntry::Type::kSymlink;
      break;
    case '5':
    case 'D':  // GNU's dumpdir: a directory whose data lists its contents
      e.type = TarEntry::Type::kDirectory;
      break;
    case '3':
    case '4':
    case '6':
      e.type = TarEntry::Type::kSpecial;
      break;
    case '\0':
      // Pre-POSIX archives mark directories by the trailing slash alone.
      e.type = !e.name.empty() && e.name.back() == '/' ? TarEntry::Type::kDirectory
                                                       : TarEntry::Type::kFile;
      break;
    default:
      e.type = TarEntry::Type::kFile;  // '0', '7' (contiguous) and unknown flags
  }
  // Only regular files carry data; what other types declare is skipped.
  pass_data_ = e.type == TarEntry::Type::kFile;
  data_left_ = e.size;
  pad_left_ = padding(data_left_);
  if (!pass_data_) e.size = 0;
  in_member_ = true;
  phase_ = Phase::kData;
  sink_.begin(e);
  if (phase_ == Phase::kDone) return;
  if (data_left_ == 0) {
    in_member_ = false;
    sink_.end();
    if (phase_ != Phase::kDone && pad_left_ == 0) phase_ = Phase::kHeader;
  }
}

void TarReader::extendedRecord() {
  const std::string rec = std::move(record_);
  record_.clear();
  if (record_type_ == 'L' || record_type_ == 'K') {
    std::string value = rec.substr(0, rec.find('\0'));
    (record_type_ == 'L' ? next_name_ : next_link_) = std::move(value);
    return;
  }
  // PAX: "LENGTH KEY=VALUE\n" records, LENGTH counting the whole record.
  size_t pos = 0;
  while (pos < rec.size()) {
    size_t sp = rec.find(' ', pos);
    uint64_t len = 0;
    if (sp == std::string::npos || !absl::SimpleAtoi(rec.substr(pos, sp - pos), &len) ||
        len <= sp - pos + 1 || len > rec.size() - pos) {
      fail("Malformed extended header: missing length");
      return;
    }
    std::string_view record = std::string_view(rec).substr(pos, len);
    pos += len;
    if (record.back() != '\n') {
      fail("Malformed extended header: missing newline");
      return;
    }
    std::string_view kv = record.substr(sp - (pos - len) + 1);
    kv.remove_suffix(1);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) {
      fail("Malformed extended header: missing equal sign");
      return;
    }
    if (record_type_ == 'g') continue;  // global records: nothing here depends on them
    std::string_view key = kv.substr(0, eq);
    std::string value(kv.substr(eq + 1));
    uint64_t n = 0;
    if (key == "path") {
      next_name_ = value;
    } else if (key == "linkpath") {
      next_link_ = value;
    } else if (key == "size") {
      if (!absl::SimpleAtoi(value, &n)) {
        fail("Malformed extended header: invalid size=" + value);
        return;
      }
      next_size_ = n;
    } else if (key == "mtime") {
      // Seconds with an optional fraction, which a file system here does not keep.
      if (absl::SimpleAtoi(value.substr(0, value.find('.')), &n)) {
        next_mtime_ = static_cast<int64_t>(n);
      }
    } else if (key == "uid" || key == "gid") {
      if (absl::SimpleAtoi(value, &n) && n <= std::numeric_limits<uint32_t>::max()) {
        (key == "uid" ? next_uid_ : next_gid_) = static_cast<uint32_t>(n);
      }
    } else if (key == "uname") {
      next_uname_ = value;
    } else if (key == "gname") {
      next_gname_ = value;
    }
  }
}

void TarReader::fail(std::string text) {
  sink_.message(std::move(text));
  failed_ = true;
}

void TarReader::unexpectedEof() {
  // GNU tar 1.34 says it twice: once where the read fails, once when it gives up.
  sink_.message("Unexpected EOF in archive");
  sink_.message("Unexpected EOF in archive");
  sink_.message("Error is not recoverable: exiting now");
  failed_ = true;
  fatal_ = true;
  phase_ = Phase::kDone;
}

void TarReader::close() {
  switch (phase_) {
    case Phase::kDone:
      return;
    case Phase::kSecondZero:
      sink_.message("A lone zero block at " + std::to_string(zero_block_));
      break;
    case Phase::kHeader:
      if (skipping_) break;
      // Nothing, or less than a block: not an archive. Otherwise, where a header would start
      // (even in the middle of its block), GNU tar ends quietly.
      if (offset_ == 0) fail("This does not look like a tar archive");
      break;
    case Phase::kRecord:
      unexpectedEof();
      break;
    case Phase::kData:
      if (in_member_) {
        in_member_ = false;
        sink_.end();
      }
      if (data_left_ > 0 || pad_left_ > 0) {
        unexpectedEof();
      }
      break;
  }
  phase_ = Phase::kDone;
}

}  // namespace kubehub::standin
