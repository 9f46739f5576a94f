#pragma once
/// Tar archives as `kubectl cp` moves them: a writer producing GNU tar 1.34's default format
/// (what `tar cf -` in a Debian-based container sends kubectl), and a streaming reader for what
/// kubectl's Go archive/tar writer sends (ustar with the prefix field, PAX `x` records for long
/// names) and what GNU tar writes (`././@LongLink` records). The reader is fed the archive in
/// pieces as they arrive and says what went wrong in GNU tar's words. Pure; one thread at a time.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kubehub::standin {

/// One member of an archive, with its extended records (long names, PAX) already applied.
struct TarEntry {
  enum class Type { kFile, kDirectory, kSymlink, kHardLink, kSpecial };
  Type type = Type::kFile;
  /// The header's type flag as written ('0', '5', ...); a reader keeps unknown flags here and
  /// reports the member as kFile, as POSIX asks.
  char typeflag = '0';
  std::string name;
  /// Symlink target, or the member a hard link refers to.
  std::string link;
  uint32_t mode = 0644;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string uname;
  std::string gname;
  int64_t mtime = 0;
  /// Bytes of data that follow the header (regular files only).
  uint64_t size = 0;
};

/// Appends an archive to a buffer member by member, in GNU tar's layout: 512-byte blocks,
/// `././@LongLink` records for names and link targets longer than 100 bytes, two zero blocks
/// at the end and zeros up to the 10240-byte record.
class TarWriter {
 public:
  static constexpr size_t kBlock = 512;
  static constexpr size_t kRecord = 10240;

  /// The member's header block(s), its data (`data.size()` must equal `entry.size` for files,
  /// and be empty otherwise) and the padding to the next block.
  void add(const TarEntry& entry, std::string_view data);
  /// The same in pieces, so that a large file can be taken out as it goes: begin(), data()
  /// until `entry.size` bytes were given, end().
  void begin(const TarEntry& entry);
  void data(std::string_view bytes) { out_ += bytes; }
  void end() { pad(); }
  /// The end-of-archive blocks and the record padding; nothing may be added afterwards.
  void finish();
  /// Bytes produced and not yet taken.
  size_t pending() const { return out_.size(); }
  std::string take();
  /// Bytes produced in all, taken or not.
  uint64_t written() const { return taken_ + out_.size(); }

 private:
  void headerBlock(const TarEntry& entry, std::string_view name, std::string_view link);
  void pad();

  std::string out_;
  uint64_t taken_ = 0;
};

/// Parses an archive that arrives in pieces. Members go to a Sink as they are found; file data
/// is passed on as it arrives and never held, so memory stays at one header plus the extended
/// records of the member being read (at most kMaxExtendedRecord bytes). What does not parse is
/// handled like GNU tar: a bad header is skipped ("Skipping to next header") and reading goes
/// on at the next good one; an archive cut short ends with "Unexpected EOF in archive".
class TarReader {
 public:
  /// Long names and PAX records longer than this end the archive (Go's reader has the same cap).
  static constexpr uint64_t kMaxExtendedRecord = 1 << 20;

  class Sink {
   public:
    virtual ~Sink() = default;
    /// A member starts; for kFile members `entry.size` bytes of data() follow.
    virtual void begin(const TarEntry& entry) = 0;
    virtual void data(std::string_view bytes) = 0;
    /// No more data comes for the member (it is short when the archive was cut).
    virtual void end() = 0;
    /// A diagnostic in GNU tar's words, without the "tar: " prefix.
    virtual void message(std::string text) = 0;
  };

  explicit TarReader(Sink& sink) : sink_(sink) {}

  /// Reads more of the archive; input after the end of the archive is ignored.
  void feed(std::string_view bytes);
  /// The input ended.
  void close();
  /// Stops reading (the sink gave up); later input is ignored.
  void abort() { phase_ = Phase::kDone; }

  /// The archive ended (end-of-archive blocks, an unrecoverable error, close() or abort()).
  bool done() const { return phase_ == Phase::kDone; }
  /// Something was wrong with the archive: tar exits with status 2.
  bool failed() const { return failed_; }
  /// ... and it was unrecoverable: tar said "Error is not recoverable: exiting now".
  bool fatal() const { return fatal_; }

 private:
  enum class Phase { kHeader, kSecondZero, kRecord, kData, kDone };

  void block(std::string_view b);
  void header(std::string_view b);
  void extendedRecord();
  void unexpectedEof();
  void fail(std::string text);

  Sink& sink_;
  Phase phase_ = Phase::kHeader;
  std::string partial_;  // a block not complete yet
  uint64_t offset_ = 0;  // bytes read
  uint64_t zero_block_ = 0;
  bool skipping_ = false;
  bool failed_ = false;
  bool fatal_ = false;

  // The extended record being read ('L', 'K', 'x' or 'g') and what the records so far say
  // about the next member.
  char record_type_ = 0;
  std::string record_;
  std::optional<std::string> next_name_;
  std::optional<std::string> next_link_;
  std::optional<uint64_t> next_size_;
  std::optional<int64_t> next_mtime_;
  std::optional<uint32_t> next_uid_;
  std::optional<uint32_t> next_gid_;
  std::optional<std::string> next_uname_;
  std::optional<std::string> next_gname_;

  // The member whose data is being read: bytes still to pass on, then padding to skip.
  bool in_member_ = false;
  bool pass_data_ = false;
  uint64_t data_left_ = 0;
  uint64_t pad_left_ = 0;
};

}  // namespace kubehub::standin
