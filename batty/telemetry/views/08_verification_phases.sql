-- title: Verification phase transitions
-- description: Gate steps verify went through, collect, fence, test and evidence (verify.phase).
SELECT count(*) AS value
FROM events
WHERE kind = 'verify.phase'
  AND ts >= batty_since(:since)
