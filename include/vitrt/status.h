// Status and Result<T>: errors are values at the library boundary.
//
// Nothing in vitrt aborts the process on bad input. Functions that can fail return a Status
// (or a Result<T> holding either a value or a Status) whose message names the node, input or
// field at fault and what was expected.
#pragma once

#include <sstream>
#include <string>
#include <utility>
#include <variant>

namespace vitrt {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // a caller passed something malformed (wrong shape, bad flag, ...)
  kInvalidModel,     // the ONNX model is malformed or inconsistent
  kUnsupported,      // valid input that vitrt does not handle (an op, a dtype, ...)
  kNotFound,         // a file, input name or model that does not exist
  kIoError,          // reading or writing a file failed
  kCorruptPlan,      // a plan file failed its checks (magic, version, checksum, bounds)
  kOutOfMemory,
  kInternal,  // a bug in vitrt: an invariant did not hold
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "unsupported: node 'x' ..." style text for logs and the command line.
  std::string to_string() const;

  // Returns a copy whose message is prefixed with `context` (for example "node 'attn/MatMul'").
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Builds a message from any streamable pieces: str_cat("node '", name, "': rank ", r).
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

template <typename... Args>
Status invalid_argument(const Args&... args) {
  return Status(StatusCode::kInvalidArgument, str_cat(args...));
}
template <typename... Args>
Status invalid_model(const Args&... args) {
  return Status(StatusCode::kInvalidModel, str_cat(args...));
}
template <typename... Args>
Status unsupported(const Args&... args) {
  return Status(StatusCode::kUnsupported, str_cat(args...));
}
template <typename... Args>
Status not_found(const Args&... args) {
  return Status(StatusCode::kNotFound, str_cat(args...));
}
template <typename... Args>
Status io_error(const Args&... args) {
  return Status(StatusCode::kIoError, str_cat(args...));
}
template <typename... Args>
Status corrupt_plan(const Args&... args) {
  return Status(StatusCode::kCorruptPlan, str_cat(args...));
}
template <typename... Args>
Status internal_error(const Args&... args) {
  return Status(StatusCode::kInternal, str_cat(args...));
}

// Either a T or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT: implicit by design
    if (std::get<Status>(data_).ok()) {
      data_ = Status(StatusCode::kInternal, "Result constructed from an ok Status");
    }
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(data_);
  }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace vitrt

// Propagation helpers: the only macros in the code base. They return early on error and
// nothing else.
#define VITRT_CONCAT_INNER(a, b) a##b
#define VITRT_CONCAT(a, b) VITRT_CONCAT_INNER(a, b)

#define VITRT_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::vitrt::Status vitrt_status_ = (expr);        \
    if (!vitrt_status_.ok()) return vitrt_status_; \
  } while (0)

#define VITRT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

#define VITRT_ASSIGN_OR_RETURN(lhs, expr) \
  VITRT_ASSIGN_OR_RETURN_IMPL(VITRT_CONCAT(vitrt_result_, __LINE__), lhs, expr)
