#include "src/http/dashboard.hpp"

namespace gq::http {

std::string_view dashboard_html() {
  // Generated from dashboard.html: a raw string literal holding the whole page.
  static constexpr std::string_view page =
#include "dashboard_html.inc"
      ;
  return page;
}

}  // namespace gq::http
