"""What is read off finished runs: results, the paper's tables and figures, metrics, the MI meter, the leaderboard."""
