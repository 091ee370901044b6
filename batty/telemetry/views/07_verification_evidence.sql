-- title: Verification evidence collections
-- description: Test runs whose evidence verify kept under .batty/evidence/ (verify.evidence).
SELECT count(*) AS value
FROM events
WHERE kind = 'verify.evidence'
  AND ts >= batty_since(:since)
