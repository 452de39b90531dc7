// The input file: every supported dtype described and read, and each failure
// named by file and dataset.
#include "read/input_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <vector>

#include "common/error.h"
#include "hdf5/handle.h"
#include "test_util.h"

namespace mpsbatch {

namespace {

using InputFileTest = testing::Hdf5FolderTest;

// Writes a dataset of `dtype` holding 0, 1, 2, ... with the raw C API.
void WriteRaw(const std::string& path, const std::string& name, hid_t type, const std::vector<hsize_t>& dims) {
  H5Handle file(std::filesystem::exists(path) ? H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)
                                              : H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                H5Fclose);
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  H5Handle ds(H5Dcreate2(file.get(), name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  hsize_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<double> values(n);
  for (hsize_t i = 0; i < n; ++i) values[i] = static_cast<double>(i % 100);
  ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
}

}  // namespace

TEST_F(InputFileTest, DescribesAndReadsEverySupportedType) {
  const std::string path = Path("in.h5");
  const std::vector<std::pair<const char*, hid_t>> types = {
      {"f32", H5T_IEEE_F32LE}, {"f64", H5T_IEEE_F64BE}, {"u8", H5T_STD_U8LE},  {"i8", H5T_STD_I8LE},
      {"i16", H5T_STD_I16LE},  {"i32", H5T_STD_I32BE},  {"i64", H5T_STD_I64LE}};
  for (auto [name, type] : types) WriteRaw(path, name, type, {7, 3});
  InputFile file(path);
  const std::vector<DType> expected = {DType::kFloat32, DType::kFloat64, DType::kUInt8, DType::kInt8,
                                       DType::kInt16,   DType::kInt32,   DType::kInt64};
  for (size_t i = 0; i < types.size(); ++i) {
    DatasetInfo info = file.Describe(types[i].first);
    EXPECT_EQ(info.dtype, expected[i]) << types[i].first;
    EXPECT_EQ(info.shape, (Shape{7, 3}));
    HostArray rows = file.ReadRows(info, 2, 5);
    EXPECT_EQ(rows.shape, (Shape{3, 3}));
    // Element k of rows 2..5 is 6 + k, whatever the stored type or byte order.
    for (int k = 0; k < 9; ++k) {
      double v = 0;
      const std::byte* p = rows.bytes.data() + k * DTypeSize(info.dtype);
      switch (info.dtype) {
        case DType::kFloat32: v = *reinterpret_cast<const float*>(p); break;
        case DType::kFloat64: v = *reinterpret_cast<const double*>(p); break;
        case DType::kUInt8: v = *reinterpret_cast<const uint8_t*>(p); break;
        case DType::kInt8: v = *reinterpret_cast<const int8_t*>(p); break;
        case DType::kInt16: v = *reinterpret_cast<const int16_t*>(p); break;
        case DType::kInt32: v = *reinterpret_cast<const int32_t*>(p); break;
        case DType::kInt64: v = static_cast<double>(*reinterpret_cast<const int64_t*>(p)); break;
        default: FAIL();
      }
      EXPECT_EQ(v, 6 + k) << types[i].first;
    }
  }
}

TEST_F(InputFileTest, InputErrorsNameFileAndDataset) {
  EXPECT_THROW(InputFile(Path("missing.h5")), InputError);
  testing::WriteFile(dir_ / "text.h5", "not hdf5");
  try {
    InputFile f(Path("text.h5"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not an HDF5 file"), std::string::npos);
  }
  const std::string path = Path("in.h5");
  WriteRaw(path, "u32", H5T_STD_U32LE, {4});
  WriteRaw(path, "scalar_like", H5T_IEEE_F32LE, {4});
  {
    H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    H5Handle group(H5Gcreate2(file.get(), "group", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    H5Handle ds(H5Dcreate2(file.get(), "scalar", H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                H5Dclose);
  }
  InputFile file(path);
  auto message = [&](const std::string& name) {
    try {
      file.Describe(name);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message("nope").find("dataset 'nope' not found"), std::string::npos);
  EXPECT_NE(message("group").find("is not a dataset"), std::string::npos);
  EXPECT_NE(message("u32").find("unsupported type uint32"), std::string::npos);
  EXPECT_NE(message("scalar").find("is a scalar"), std::string::npos);
}

// numpy's bool, uint16 and float16, as h5py stores them: an 8-bit enum
// FALSE/TRUE, a 16-bit unsigned integer, IEEE half (here big-endian, so HDF5
// converts it).
TEST_F(InputFileTest, ReadsBoolUint16AndFloat16) {
  const std::string path = Path("in.h5");
  WriteRaw(path, "u16", H5T_STD_U16LE, {7, 3});
  H5Handle half(H5Tcopy(H5T_IEEE_F32BE), H5Tclose);
  ASSERT_GE(H5Tset_fields(half.get(), 15, 10, 5, 0, 10), 0);
  ASSERT_GE(H5Tset_size(half.get(), 2), 0);
  ASSERT_GE(H5Tset_ebias(half.get(), 15), 0);
  WriteRaw(path, "f16", half.get(), {7, 3});
  {
    H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    H5Handle type(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose);
    const int8_t no = 0, yes = 1;
    H5Tenum_insert(type.get(), "FALSE", &no);
    H5Tenum_insert(type.get(), "TRUE", &yes);
    const hsize_t dims[] = {7, 3};
    H5Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
    H5Handle ds(H5Dcreate2(file.get(), "b", type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    std::vector<int8_t> values(21);
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<int8_t>(i % 3 == 0);
    ASSERT_GE(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  }
  for (bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "direct" : "through HDF5");
    InputFile file(path, ReadOptions{direct, 2});
    const DatasetInfo u16 = file.Describe("u16"), f16 = file.Describe("f16"), b = file.Describe("b");
    EXPECT_EQ(u16.dtype, DType::kUInt16);
    EXPECT_EQ(f16.dtype, DType::kFloat16);
    EXPECT_EQ(b.dtype, DType::kBool);
    const HostArray u = file.ReadRows(u16, 2, 5), h = file.ReadRows(f16, 2, 5), flags = file.ReadRows(b, 2, 5);
    for (int k = 0; k < 9; ++k) {
      EXPECT_EQ(reinterpret_cast<const uint16_t*>(u.bytes.data())[k], 6 + k);
      // 6 + k as IEEE half: exponent 2^2 or 2^3 with the value's bits in the mantissa.
      const uint16_t bits = reinterpret_cast<const uint16_t*>(h.bytes.data())[k];
      const int exponent = ((bits >> 10) & 0x1f) - 15;
      const double mantissa = 1 + (bits & 0x3ff) / 1024.0;
      EXPECT_EQ(mantissa * std::ldexp(1.0, exponent), 6 + k);
      EXPECT_EQ(static_cast<int>(flags.bytes.data()[k]), (6 + k) % 3 == 0 ? 1 : 0);
    }
  }
}

// A name that is not in the file: the datasets that are, nested ones by
// their paths, and the nearest of them.
TEST_F(InputFileTest, AMissingDatasetListsTheFilesAndSuggestsTheNearest) {
  const std::string path = Path("in.h5");
  WriteRaw(path, "images", H5T_STD_U8LE, {4, 2});
  WriteRaw(path, "labels", H5T_STD_I64LE, {4});
  {
    H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    H5Handle group(H5Gcreate2(file.get(), "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  }
  WriteRaw(path, "train/features", H5T_IEEE_F32LE, {4, 3});
  InputFile file(path);
  auto message = [&](const std::string& name) {
    try {
      file.Describe(name);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  const std::string typo = message("imgaes");
  EXPECT_NE(typo.find("dataset 'imgaes' not found (did you mean 'images'?)"), std::string::npos) << typo;
  EXPECT_NE(typo.find("the file holds 3 dataset(s): images, labels, train/features"), std::string::npos) << typo;
  EXPECT_NE(typo.find("input.dataset"), std::string::npos) << typo;
  EXPECT_NE(message("feature").find("(did you mean 'train/features'?)"), std::string::npos) << message("feature");
  EXPECT_EQ(message("zzzzzzzzzz").find("did you mean"), std::string::npos);
  const std::string group = message("train");
  EXPECT_NE(group.find("is not a dataset but a group; it holds 1 dataset(s): train/features"), std::string::npos)
      << group;
}

}  // namespace mpsbatch
