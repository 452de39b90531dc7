#include "plan/model_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "common/file_identity.h"
#include "common/unique_fd.h"

namespace mpsbatch {

// Sized up front, not grown: an ostringstream grows and copies as it goes,
// which made planning a large model markedly slower.
std::shared_ptr<const std::string> ReadModelFile(const std::string& path, const std::string& key,
                                                 std::string* identity) {
  const std::string where = key + " '" + path + "': ";
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) throw ModelError(where + "file not found");
  if (ec) throw ModelError(where + "cannot look at the file: " + ec.message());
  if (std::filesystem::is_directory(status)) throw ModelError(where + "is a folder, not a model file");
  if (!std::filesystem::is_regular_file(status)) throw ModelError(where + "is not a regular file");
  const UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file) throw ModelError(where + "cannot open the file: " + std::strerror(errno));
  const int fd = file.get();
  // Size and identity of the file opened, not of whatever the path names by
  // now.
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw ModelError(where + "cannot read the file: " + std::strerror(errno));
  const std::string before = identity ? FileIdentityOfOpenFile(fd) : "";
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::pread(fd, bytes.data() + at, bytes.size() - at, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ModelError(where + "cannot read the file: " + std::strerror(errno));
    if (n == 0) throw ModelError(where + "changed while being read (shorter than its size)");
    at += static_cast<size_t>(n);
  }
  char more = 0;
  if (::pread(fd, &more, 1, static_cast<off_t>(at)) > 0) throw ModelError(where + "changed while being read (longer)");
  // The identity of what was read: "" if the file changed meanwhile.
  if (identity) *identity = before == FileIdentityOfOpenFile(fd) ? before : "";
  return std::make_shared<const std::string>(std::move(bytes));
}

}  // namespace mpsbatch
