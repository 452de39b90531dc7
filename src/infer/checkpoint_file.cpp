#include "infer/checkpoint_file.h"

#include <caffe2/serialize/inline_container.h>

#include <array>
#include <fstream>
#include <memory>
#include <regex>

#include "infer/bytes_reader.h"

namespace mpsbatch {

namespace {

// torch.save's legacy format (before torch 1.6, or with
// _use_new_zipfile_serialization=False) opens with a pickle, protocol 2, of
// its magic number 0x1950a86a20f9469cfc6c as a 10-byte long.
constexpr std::array<unsigned char, 14> kLegacyMagic = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                                        0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

std::string Head(const ModelSource& src, size_t n) {
  if (src.bytes) return src.bytes->substr(0, n);
  std::ifstream in(src.path, std::ios::binary);
  std::string head(n, '\0');
  in.read(head.data(), static_cast<std::streamsize>(n));
  head.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return head;
}

bool IsLegacyPickle(const ModelSource& src) {
  const std::string head = Head(src, kLegacyMagic.size());
  return head.size() == kLegacyMagic.size() &&
         std::equal(kLegacyMagic.begin(), kLegacyMagic.end(), head.begin(),
                    [](unsigned char a, char b) { return a == static_cast<unsigned char>(b); });
}

// Modules whose globals torch.save writes for tensors, storages and dicts:
// a pickle that names only these holds weights, not a module.
bool IsContainerModule(const std::string& module) {
  static const std::regex kContainers(R"(collections|__builtin__|builtins|_codecs|copyreg|torch|torch\._utils|)"
                                      R"(torch\._tensor|torch\.serialization|torch\.storage|numpy(\..*)?)");
  return std::regex_match(module, kContainers);
}

// The class a pickled module was saved as ("__main__.Net"), preferring the
// user's own class to torch.nn's containers; "" for a pickle of weights.
// torch.save pickles with protocol 2, where a class is the GLOBAL opcode:
// 'c', the module, '\n', the name, '\n'.
std::string PickledClass(const std::string& pickle) {
  static const std::regex kGlobal(R"(c([A-Za-z_][\w.]*)\n([A-Za-z_]\w*)\n)");
  std::string torch_class;
  for (std::sregex_iterator it(pickle.begin(), pickle.end(), kGlobal), end; it != end; ++it) {
    const std::string module = (*it)[1], name = (*it)[2];
    if (IsContainerModule(module)) continue;
    if (module.rfind("torch.", 0) != 0) return module + "." + name;
    if (torch_class.empty() && module.rfind("torch.nn.", 0) == 0) torch_class = module + "." + name;
  }
  return torch_class;
}

// "" if `src` is no torch.save zip archive (TorchScript files hold code/ and
// constants.pkl beside data.pkl); otherwise the class its data.pkl pickles,
// or "-" for weights only.
std::string ZipCheckpointClass(const ModelSource& src) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> archive;
  if (src.bytes)
    archive = std::make_unique<caffe2::serialize::PyTorchStreamReader>(std::make_shared<BytesReader>(src.bytes));
  else
    archive = std::make_unique<caffe2::serialize::PyTorchStreamReader>(src.path);
  if (!archive->hasRecord("data.pkl") || archive->hasRecord("constants.pkl")) return "";
  for (const auto& name : archive->getAllRecords())
    if (name.rfind("code/", 0) == 0 || name.rfind("data/aotinductor/", 0) == 0) return "";
  auto [data, size] = archive->getRecord("data.pkl");
  const std::string cls = PickledClass(std::string(static_cast<const char*>(data.get()), size));
  return cls.empty() ? "-" : cls;
}

// The export helper's command; `cls` is its --class argument, "" where
// torch.load finds the class itself (torch.nn's own).
std::string ExportAdvice(const std::string& path, const std::string& cls) {
  return "; mpsbatch runs exported models (TorchScript .pt or AOTInductor .pt2), which carry the model's code. " +
         std::string(cls.empty() ? "Export it" : "Export it with its class") + ": mpsbatch-export --checkpoint '" +
         path + "'" + (cls.empty() ? "" : " --class " + cls) +
         " --job your_job.yaml -o model.pt (docs/getting-started.md, \"Export the model\")";
}

}  // namespace

std::string CheckpointNotModel(const ModelSource& src) {
  try {
    if (IsLegacyPickle(src))
      return "is a checkpoint in torch.save's legacy (non-zip) format, not an exported model" +
             ExportAdvice(src.path, "your_module:YourModel");
    const std::string cls = ZipCheckpointClass(src);
    if (cls.empty()) return "";
    if (cls == "-")
      return "is a checkpoint written by torch.save (a state_dict, or a dict holding one): the model's weights "
             "without its code, not an exported model" +
             ExportAdvice(src.path, "your_module:YourModel");
    const size_t dot = cls.rfind('.');
    const std::string module = cls.substr(0, dot), name = cls.substr(dot + 1);
    const bool torch_class = module.rfind("torch.", 0) == 0;
    return "is a whole nn.Module (" + cls + ") pickled by torch.save(model), not an exported model" +
           std::string(torch_class ? "" : ": it needs its Python class to load") +
           ExportAdvice(src.path, torch_class ? "" : (module == "__main__" ? "your_module" : module) + ":" + name);
  } catch (const std::exception&) {
    return "";  // not an archive torch reads either: the loader's own message stands
  }
}

}  // namespace mpsbatch
