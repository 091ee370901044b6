-- title: Merge confidence
-- description: Every confidence score merge wrote (merge.confidence), oldest first, with its task and seat.
SELECT ts, day, task, seat, json_extract(data, '$.score') AS score
FROM events
WHERE kind = 'merge.confidence'
  AND ts >= batty_since(:since)
ORDER BY ts
