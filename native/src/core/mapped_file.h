// Read-only memory mapping of a whole file. Weights are used straight from the mapping
// where the backend allows it (norm vectors, f32 embedding rows), so loading costs page
// faults rather than copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace deepinfer {

class MappedFile {
 public:
  MappedFile() = default;
  // Throws Error naming `path` when the file is missing, unreadable or cannot be mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Tells the kernel the pages of [p, p+n) will not be needed again (the backend made its
  // own copy); the file stays mapped, so a later read would just fault the page back in.
  void release(const void* p, size_t n) const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Whole-file read into a string (for small JSON files). Throws Error naming the path.
std::string read_text_file(const std::string& path);
bool file_exists(const std::string& path);
bool dir_exists(const std::string& path);

}  // namespace deepinfer
