"""`taskloom run`: starts headless agents for ready work and supervises them."""
