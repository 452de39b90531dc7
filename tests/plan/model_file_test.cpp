#include "plan/model_file.h"

#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "test_util.h"

namespace mpsbatch {

namespace {

using ::mpsbatch::testing::TestDir;
using ::mpsbatch::testing::WriteFile;

std::string ModelErrorOf(const std::string& path) {
  try {
    ReadModelFile(path);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

TEST(ReadModelFile, ReadsTheWholeFileAndItsIdentity) {
  const auto path = TestDir() / "model.pt";
  const std::string text(3 << 20, 'x');
  WriteFile(path, text);
  std::string identity;
  const auto bytes = ReadModelFile(path.string(), "model.path", &identity);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*bytes, text);
  EXPECT_FALSE(identity.empty());
}

TEST(ReadModelFile, AMissingFileOrAFolderIsAModelErrorNamingTheKeyAndPath) {
  const auto dir = TestDir();
  const std::string missing = ModelErrorOf((dir / "absent.pt").string());
  EXPECT_NE(missing.find("model.path '" + (dir / "absent.pt").string() + "': file not found"), std::string::npos)
      << missing;
  const std::string folder = ModelErrorOf(dir.string());
  EXPECT_NE(folder.find("is a folder, not a model file"), std::string::npos) << folder;
}

}  // namespace

}  // namespace mpsbatch
