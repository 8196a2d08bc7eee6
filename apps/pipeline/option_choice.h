// The command-line side of the option enums (option_words.h): an option taking
// one of an enum's words, stored as the value. Shared by every tool; --help lists the words and
// shows the default's.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "apps/pipeline/option_words.h"

namespace vggtl {

template <typename E>
std::vector<std::string> option_word_list() {
  std::vector<std::string> words;
  for (const auto& [word, value] : option_words<E>()) words.push_back(word);
  return words;
}

// An option whose word, checked against E's words, is handed to `set` as E's value.
template <typename E, typename Set>
CLI::Option* add_word_option(CLI::App& app, const std::string& flag, Set set, const std::string& help) {
  return app
      .add_option_function<std::string>(
          flag, [set, flag](const std::string& word) { set(option_value<E>(word, flag)); }, help)
      ->check(CLI::IsMember(option_word_list<E>()));
}

template <typename E>
CLI::Option* add_choice(CLI::App& app, const std::string& flag, E* field, const std::string& help) {
  return add_word_option<E>(app, flag, [field](E v) { *field = v; }, help)->default_str(option_word(*field));
}

// The same for an override without a default: unset unless given.
template <typename E>
CLI::Option* add_choice(CLI::App& app, const std::string& flag, std::optional<E>* field, const std::string& help) {
  return add_word_option<E>(app, flag, [field](E v) { *field = v; }, help);
}

}  // namespace vggtl
