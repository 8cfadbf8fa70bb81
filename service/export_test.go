package service

// LoginTableSizes returns how many user names and client addresses the
// login throttle tracks.
func (s *Service) LoginTableSizes() (users, addrs int) {
	s.logins.mu.Lock()
	defer s.logins.mu.Unlock()
	return len(s.logins.users), len(s.logins.ips)
}
