// What output.path and output.datasets may be, checked when the job is read
// (so --dry-run and the run refuse the same jobs): the output is an HDF5 file,
// and each name a dataset path the writer can create in it. Under
// output.per_input, output.path is a pattern of one file per input file.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mpsbatch {

// "" if `path`'s suffix suits an HDF5 file (.h5, .hdf5, .hdf, .he5, any
// case, or none) or `path` ends as an output's side file does (.partial,
// .partial.chunks, .lock: CheckOutputFiles refuses those), else what is
// wrong and how to fix it.
std::string OutputPathProblem(const std::string& path);

// "" if every name is a dataset path the writer can create: components
// separated by single '/' (the groups between are created), none empty, '.'
// or '..', no leading or trailing '/', and no name a group of another
// ("a" beside "a/b"). Else what is wrong with which name.
std::string OutputNamesProblem(const std::vector<std::string>& names);

// "" if `path` suits `per_input`: with it, a pattern holding at least one of
// {stem}, {name} and {index}, in its file name only (the folder is one for all
// files) and no other {...}; without it, none of them. Else what is wrong and
// how to fix it.
std::string OutputPatternProblem(const std::string& path, bool per_input);

// The output path of input file `input` (the `index`th of `count`, in input
// order) under the pattern `pattern`: {stem} is the file's name without its
// last suffix (part-0007.h5 -> part-0007), {name} the name with it, {index}
// `index` zero-padded to the digits of `count` (17 files: 00 to 16).
std::string ExpandOutputPattern(const std::string& pattern, const std::string& input, size_t index, size_t count);

// "" if the output ExpandOutputPattern names for input file `input` is one a
// single output.path could be: a file's name in the pattern's folder (not
// '.' or '..', which an input named "..." or "..h5" gives {stem}), with an
// HDF5 suffix or none, and not ending as a side file does (.partial,
// .partial.chunks, .lock).
// Else what is wrong, naming the input file and the output, and how to fix
// the pattern.
std::string ExpandedOutputProblem(const std::string& pattern, const std::string& input, size_t index, size_t count);

}  // namespace mpsbatch
