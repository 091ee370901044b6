-- title: Merge confidence scores written
-- description: Confidence scores merge computed for a reviewed task (merge.confidence).
SELECT count(*) AS value
FROM events
WHERE kind = 'merge.confidence'
  AND ts >= batty_since(:since)
