#pragma once
// A shard as a request names it, or none (a request without `shard`; NULL in the journal), and
// the bucket it belongs to.
//
// One word, with std::optional's way of asking: shard numbers are below 2^63 (the API's range),
// so the largest value is free to mean none. A waiter's ticket and every waiting connection
// carry one, 19,000 times over, and the journal's records the same type.

#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>

namespace gq {

class shard_id {
 public:
  constexpr shard_id() noexcept = default;
  constexpr shard_id(std::nullopt_t) noexcept {}
  // A shard number is a shard (implicit, as for std::optional).
  constexpr shard_id(std::uint64_t number) noexcept : value_(number) {}

  constexpr bool has_value() const noexcept { return value_ != k_none; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  // Precondition: has_value().
  constexpr std::uint64_t operator*() const noexcept { return value_; }
  constexpr std::uint64_t value_or(std::uint64_t fallback) const noexcept {
    return has_value() ? value_ : fallback;
  }

  friend constexpr bool operator==(shard_id, shard_id) noexcept = default;

  friend std::ostream& operator<<(std::ostream& out, shard_id shard) {
    return shard ? out << *shard : out << "none";
  }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, shard_id& x) {
    return f(x.value_);
  }

 private:
  static constexpr std::uint64_t k_none = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t value_ = k_none;
};

static_assert(sizeof(shard_id) == sizeof(std::uint64_t));

// The bucket of `shard` among `buckets` (max_concurrency): shard % buckets, Discord's rule; a
// request without a shard goes to bucket 0.
constexpr std::uint32_t bucket_of(shard_id shard, std::uint64_t buckets) {
  return shard ? static_cast<std::uint32_t>(*shard % buckets) : 0;
}

}  // namespace gq
