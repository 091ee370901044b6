-- title: Per-seat completions
-- description: Merges landed (merge.merged), counted by the seat whose agent did the work.
-- shape: rows
SELECT coalesce(seat, '-') AS seat, count(*) AS value
FROM events
WHERE kind = 'merge.merged'
  AND ts >= batty_since(:since)
GROUP BY coalesce(seat, '-')
ORDER BY value DESC, seat
