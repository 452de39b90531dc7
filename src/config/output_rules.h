// What output.path and output.datasets may be, checked when the job is read
// (so --dry-run and the run refuse the same jobs): the output is an HDF5 file,
// and each name a dataset path the writer can create in it.
#pragma once

#include <string>
#include <vector>

namespace mpsbatch {

// "" if `path`'s suffix suits an HDF5 file (.h5, .hdf5, .hdf, .he5, any
// case, or none) or is that of an output's side file (.partial, .chunks,
// .lock: CheckOutputFiles refuses those), else what is wrong and how to fix it.
std::string OutputPathProblem(const std::string& path);

// "" if every name is a dataset path the writer can create: components
// separated by single '/' (the groups between are created), none empty, '.'
// or '..', no leading or trailing '/', and no name a group of another
// ("a" beside "a/b"). Else what is wrong with which name.
std::string OutputNamesProblem(const std::vector<std::string>& names);

}  // namespace mpsbatch
