package domain

// Catalogue is every hotel and its room types (GET /internal/catalogue).
type Catalogue struct {
	Hotels []Hotel `json:"hotels"`
}

// Hotel is one hotel.
type Hotel struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	City      string     `json:"city"`
	Address   string     `json:"address"`
	Stars     int        `json:"stars"`
	RoomTypes []RoomType `json:"room_types"`
}

// RoomType is one kind of room of a hotel; prices are in minor units.
type RoomType struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Capacity      int    `json:"capacity"`
	PricePerNight int64  `json:"price_per_night"`
	Currency      string `json:"currency"`
	TotalRooms    int    `json:"total_rooms"`
}

// Hotel returns the hotel with the given ID.
func (c *Catalogue) Hotel(id string) (*Hotel, bool) {
	for i := range c.Hotels {
		if c.Hotels[i].ID == id {
			return &c.Hotels[i], true
		}
	}
	return nil, false
}

// RoomType returns the hotel's room type with the given ID.
func (h *Hotel) RoomType(id string) (*RoomType, bool) {
	for i := range h.RoomTypes {
		if h.RoomTypes[i].ID == id {
			return &h.RoomTypes[i], true
		}
	}
	return nil, false
}
