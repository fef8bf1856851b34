#pragma once
// The page GET /dashboard serves: src/http/dashboard.html, compiled in by CMake so that it can
// be edited as HTML and the binary needs no file beside it.

#include <string_view>

namespace gq::http {

std::string_view dashboard_html();

}  // namespace gq::http
