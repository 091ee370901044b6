-- title: Peak daily completions
-- description: The most tasks completed end-to-end on one local day (telemetry.timezone), and that day.
SELECT coalesce(max(n), 0) AS value, day AS detail
FROM (
  SELECT day, count(DISTINCT task) AS n
  FROM events
  WHERE kind = 'task.status'
  AND json_extract(data, '$.to') = 'done'
  AND json_extract(data, '$.by') = 'merge'
    AND ts >= batty_since(:since)
  GROUP BY day
)
