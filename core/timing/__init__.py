"""Time: the percentiles every measured duration is reported by, and the backoff every retry waits by."""
